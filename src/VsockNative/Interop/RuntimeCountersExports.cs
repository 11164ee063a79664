using System;
using System.Runtime.InteropServices;
using VsockNative.Diagnostics;

namespace VsockNative.Interop;

/// <summary>The managed runtime of the whole library (every device of the process shares it): what it
/// allocated and how often it collected. Set struct_size first.</summary>
[CStruct("vsn_runtime_counters")]
[CSection(AbiSection.Diagnostics, 8)]
internal struct RuntimeCountersAbi
{
    /// <summary>sizeof(vsn_runtime_counters) as the caller compiled it.</summary>
    public uint StructSize;
    /// <summary>How many garbage-collector generations gc_count adds up.</summary>
    public uint GcGenerations;
    /// <summary>Bytes the library's runtime allocated since the process started, on every thread (a
    /// precise figure: taking it costs a little).</summary>
    public ulong AllocatedBytes;
    /// <summary>Garbage collections since the process started, the collections of every generation
    /// added up (a full collection counts once per generation it covered).</summary>
    public ulong GcCount;
    /// <summary>Bytes the runtime's heap holds now (live objects and garbage not yet collected).</summary>
    public ulong HeapBytes;
}

/// <summary>The runtime counters: what the benchmarks read around a measured run (a steady state
/// allocates nothing and collects never).</summary>
internal static unsafe class RuntimeCountersExports
{
    /// <summary>The runtime counters now, as one struct.</summary>
    internal static RuntimeCountersAbi Snapshot()
    {
        ulong collections = 0;
        for (int g = 0; g <= GC.MaxGeneration; g++)
            collections += (ulong)GC.CollectionCount(g);
        return new RuntimeCountersAbi
        {
            GcGenerations = (uint)(GC.MaxGeneration + 1),
            AllocatedBytes = (ulong)GC.GetTotalAllocatedBytes(precise: true),
            GcCount = collections,
            HeapBytes = (ulong)GC.GetTotalMemory(forceFullCollection: false),
        };
    }

    /// <summary>The library's managed runtime counters: bytes allocated and garbage collections since
    /// the process started, and the heap's size now. Library-wide (not per device): read it before and
    /// after what is measured and subtract.
    /// Threads: any thread, including the device's callbacks.</summary>
    /// <param name="out_counters">Its struct_size must be set; at most that many bytes are written.</param>
    /// <returns>0; -EINVAL for NULL or a struct_size below 8.</returns>
    [UnmanagedCallersOnly(EntryPoint = "vsn_get_runtime_counters")]
    [CSection(AbiSection.Diagnostics, 4)]
    public static int GetRuntimeCounters(RuntimeCountersAbi* out_counters)
    {
        const string fn = "vsn_get_runtime_counters";
        try
        {
            if (out_counters == null)
                return Abi.Reject(Logger.Global, fn, -Errno.EINVAL, "out_counters is NULL");
            uint size = out_counters->StructSize;
            if (size < 8)
                return Abi.Reject(Logger.Global, fn, -Errno.EINVAL, $"struct_size {size}: set it to sizeof(vsn_runtime_counters)");
            var value = Snapshot();
            value.StructSize = size;
            int copy = (int)Math.Min(size, (uint)sizeof(RuntimeCountersAbi));
            new ReadOnlySpan<byte>(&value, copy).CopyTo(new Span<byte>(out_counters, copy));
            return 0;
        }
        catch (Exception e) { return Abi.Crash(fn, e); }
    }
}
