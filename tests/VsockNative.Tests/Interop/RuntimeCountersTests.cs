using System;
using System.Runtime.CompilerServices;
using VsockNative.Interop;
using Xunit;

namespace VsockNative.Tests.Interop;

/// <summary>vsn_get_runtime_counters, called through its C entry point: it reports an allocation the
/// test makes and a collection the test forces, and refuses what the C API refuses.</summary>
public unsafe class RuntimeCountersTests
{
    private static int Get(RuntimeCountersAbi* p) =>
        ((delegate* unmanaged<RuntimeCountersAbi*, int>)&RuntimeCountersExports.GetRuntimeCounters)(p);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static byte[] Allocate(int bytes) => new byte[bytes];

    [Fact]
    public void Reports_a_known_allocation_and_a_forced_collection()
    {
        const int size = 4 << 20;
        var before = new RuntimeCountersAbi { StructSize = (uint)sizeof(RuntimeCountersAbi) };
        var after = before;
        Assert.Equal(0, Get(&before));
        var block = Allocate(size);
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true);
        Assert.Equal(0, Get(&after));
        GC.KeepAlive(block);

        Assert.Equal((uint)sizeof(RuntimeCountersAbi), after.StructSize);
        Assert.Equal((uint)(GC.MaxGeneration + 1), after.GcGenerations);
        // Other test threads may allocate too: at least our block, never less.
        Assert.InRange(after.AllocatedBytes - before.AllocatedBytes, (ulong)size, ulong.MaxValue);
        // A forced full collection counts once per generation it covered.
        Assert.InRange(after.GcCount - before.GcCount, (ulong)(GC.MaxGeneration + 1), ulong.MaxValue);
        Assert.InRange(after.HeapBytes, (ulong)size, ulong.MaxValue);
    }

    [Fact]
    public void A_smaller_struct_gets_only_its_bytes()
    {
        var buf = new byte[sizeof(RuntimeCountersAbi)];
        Array.Fill(buf, (byte)0xAB);
        fixed (byte* p = buf)
        {
            *(uint*)p = 16; // struct_size, gc_generations and allocated_bytes, no more
            Assert.Equal(0, Get((RuntimeCountersAbi*)p));
            Assert.Equal(16u, *(uint*)p);
            Assert.NotEqual(0UL, *(ulong*)(p + 8));
            for (int i = 16; i < buf.Length; i++)
                Assert.Equal(0xAB, buf[i]);
        }
    }

    [Fact]
    public void Null_and_a_missing_struct_size_are_refused()
    {
        Assert.Equal(-22, Get(null));
        var c = new RuntimeCountersAbi { StructSize = 4 };
        Assert.Equal(-22, Get(&c));
    }
}
