using System;
using VsockNative.Virtqueue;
using Xunit;

namespace VsockNative.Tests.Virtqueue;

public class AllocationTests
{
    private const ushort N = VirtqDescFlags.Next, W = VirtqDescFlags.Write, I = VirtqDescFlags.Indirect;

    [Fact]
    public void Popping_and_pushing_chains_allocates_nothing()
    {
        using var fx = new QueueFixture(VirtqFeatures.IndirectDesc | VirtqFeatures.EventIdx);
        ushort[] heads = BuildReusableChains(fx.Driver);

        Run(fx, heads, 10_000); // warm-up: JIT, tiering, statics
        long before = GC.GetAllocatedBytesForCurrentThread();
        ulong checksum = Run(fx, heads, 10_000);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
        Assert.NotEqual(0ul, checksum);
        Assert.Equal(20_000ul, fx.Queue.Counters.ChainsPopped);
        Assert.Equal(0ul, fx.Queue.Counters.BadChains);
    }

    /// <summary>
    /// The driver's descriptors are written once; the loop only re-posts their heads, so the
    /// measured work is the device side (pop, walk, translate, push, publish, notify decisions).
    /// </summary>
    private static ulong Run(QueueFixture fx, ushort[] heads, int chains)
    {
        ulong checksum = 0;
        int failures = 0;
        for (int i = 0; i < chains; i++)
        {
            fx.Driver.MakeAvailable(heads[i % heads.Length]);
            if (fx.Queue.Pop(fx.Chain) != PopResult.Chain)
                failures++;
            checksum += fx.Chain.ReadableLength + (ulong)fx.Chain.Readable.Length + fx.Chain.WritableLength;
            fx.Queue.PushUsed(fx.Chain.HeadIndex, fx.Chain.WritableLength);
            if (i % 8 == 7)
            {
                fx.Queue.PublishUsed();
                fx.Queue.NeedsInterrupt();
                fx.Queue.DisableKicks();
                fx.Queue.EnableKicks();
            }
        }

        fx.Queue.PublishUsed();
        if (failures != 0)
            throw new InvalidOperationException($"{failures} pops failed");
        return checksum;
    }

    /// <summary>A direct 3-descriptor chain (header, payload, rx buffer) and an indirect one, with straddling buffers.</summary>
    private static ushort[] BuildReusableChains(MockSplitQueue d)
    {
        ulong header = QueueFixture.R2 - 20; // 44-byte header straddling R1/R2
        ulong payload = QueueFixture.R2 + 0x100;
        ulong rx = QueueFixture.R2 + 0x800;
        d.WriteDesc(0, header, 44, N, 1);
        d.WriteDesc(1, payload, 200, N, 2);
        d.WriteDesc(2, rx, 64, W);

        ulong table = QueueFixture.R2 + 0x1000;
        d.WriteDescAt(table, 0, header, 10, N, 1);
        d.WriteDescAt(table, 1, header + 10, 34, N, 2);
        d.WriteDescAt(table, 2, payload, 100, N, 3);
        d.WriteDescAt(table, 3, rx, 64, W, 0);
        d.WriteDesc(3, table, 64, I);
        return new ushort[] { 0, 3 };
    }
}
