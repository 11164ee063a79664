using System;
using VsockNative.Tests.Memory;
using VsockNative.Virtqueue;
using Xunit;

namespace VsockNative.Tests.Virtqueue;

/// <summary>
/// The standard test layout, a mock driver over it, and a started device queue:
/// <code>
///   R0   [0x00000, 0x10000)  rings: desc 0x1000, avail 0x8000, used 0x9000 (room for size 256)
///   R1   [0x10000, 0x20000)  heap part 1
///   R2   [0x20000, 0x30000)  heap part 2: GPA-adjacent to R1, separate host allocation
///   gap  [0x30000, 0x40000)
///   R3   [0x40000, 0x41000)
///   BIG  [0x1_0000_0000, 0x2_0000_0000) unbacked (fake host; translate only, never touched)
/// </code>
/// The default heap [0x1F000, 0x21000) straddles the R1/R2 boundary, so buffers often span both.
/// </summary>
internal sealed class QueueFixture : IDisposable
{
    public const ulong R1 = 0x10000, R2 = 0x20000, Gap = 0x30000, R3 = 0x40000, R3End = 0x41000;
    public const ulong Big = 0x1_0000_0000, BigSize = 0x1_0000_0000;

    public QueueFixture(VirtqFeatures features = VirtqFeatures.IndirectDesc, ushort size = 256,
        int maxSegments = 32, ulong heapStart = 0x1F000, ulong heapEnd = 0x21000)
    {
        Memory = new MockGuestMemory(
            new MockRegion(0, 0x10000), new MockRegion(R1, 0x10000), new MockRegion(R2, 0x10000),
            new MockRegion(R3, 0x1000), new MockRegion(Big, BigSize, Backed: false));
        Driver = new MockSplitQueue(Memory, size, 0x1000, 0x8000, 0x9000, heapStart, heapEnd);
        Chain = new DescriptorChain(maxSegments);
        Assert.Equal(QueueConfigError.None, Queue.Configure(Memory.Memory, Driver.Config(features)));
        Assert.Equal(QueueError.None, Queue.Start());
    }

    public MockGuestMemory Memory { get; }

    public MockSplitQueue Driver { get; }

    public SplitQueue Queue { get; } = new();

    public DescriptorChain Chain { get; }

    /// <summary>Adds a one-buffer readable chain of <paramref name="length"/> bytes.</summary>
    public ushort AddSimpleChain(uint length = 16, bool indirect = false)
    {
        ReadOnlySpan<MockBuffer> buffers = new[] { Driver.AddData(new byte[length]) };
        return Driver.AddChain(buffers, indirect);
    }

    /// <summary>Pops, asserting a good chain with head <paramref name="head"/>, and returns it used.</summary>
    public void PopGood(ushort head, uint usedLength = 0)
    {
        Assert.Equal(PopResult.Chain, Queue.Pop(Chain));
        Assert.Equal(head, Chain.HeadIndex);
        Assert.Equal(QueueError.None, Queue.PushUsed(Chain.HeadIndex, usedLength));
        Assert.Equal(QueueError.None, Queue.PublishUsed());
    }

    public void Dispose() => Memory.Dispose();
}
