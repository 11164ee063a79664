using System;
using VsockNative.Virtqueue;
using Xunit;

namespace VsockNative.Tests.Virtqueue;

/// <summary>The classes of malformed chain a guest can post; each is built by <see cref="BadChainTests.Build"/>.</summary>
public enum BadChainCase
{
    Loop,
    ChainLongerThanQueue,
    IndirectLoop,
    NextOutOfRange,
    IndirectNextOutOfRange,
    HeadOutOfRange,
    NestedIndirect,
    IndirectLenNotMultipleOf16,
    IndirectLenZero,
    IndirectOutsideMemory,
    IndirectAcrossRegions,
    IndirectAddressWraps,
    IndirectWithNext,
    IndirectNotNegotiated,
    ReadableAfterWritable,
    ReadableAfterWritableInIndirect,
    AddrOutsideMemory,
    BufferRunsIntoGap,
    SecondBufferOutsideMemory,
    AddrLenWrap,
    TooManySegments,
    LengthOverflow,
}

public class BadChainTests
{
    private const ushort N = VirtqDescFlags.Next, W = VirtqDescFlags.Write, I = VirtqDescFlags.Indirect;

    [Theory]
    [InlineData(BadChainCase.Loop, ChainError.ChainTooLong)]
    [InlineData(BadChainCase.ChainLongerThanQueue, ChainError.ChainTooLong)]
    [InlineData(BadChainCase.IndirectLoop, ChainError.ChainTooLong)]
    [InlineData(BadChainCase.NextOutOfRange, ChainError.NextOutOfRange)]
    [InlineData(BadChainCase.IndirectNextOutOfRange, ChainError.NextOutOfRange)]
    [InlineData(BadChainCase.HeadOutOfRange, ChainError.HeadOutOfRange)]
    [InlineData(BadChainCase.NestedIndirect, ChainError.NestedIndirect)]
    [InlineData(BadChainCase.IndirectLenNotMultipleOf16, ChainError.IndirectTableLengthInvalid)]
    [InlineData(BadChainCase.IndirectLenZero, ChainError.IndirectTableEmpty)]
    [InlineData(BadChainCase.IndirectOutsideMemory, ChainError.IndirectTableOutOfMemory)]
    [InlineData(BadChainCase.IndirectAcrossRegions, ChainError.IndirectTableOutOfMemory)]
    [InlineData(BadChainCase.IndirectAddressWraps, ChainError.IndirectTableOutOfMemory)]
    [InlineData(BadChainCase.IndirectWithNext, ChainError.IndirectWithNext)]
    [InlineData(BadChainCase.IndirectNotNegotiated, ChainError.IndirectNotNegotiated)]
    [InlineData(BadChainCase.ReadableAfterWritable, ChainError.ReadableAfterWritable)]
    [InlineData(BadChainCase.ReadableAfterWritableInIndirect, ChainError.ReadableAfterWritable)]
    [InlineData(BadChainCase.AddrOutsideMemory, ChainError.BufferOutOfMemory)]
    [InlineData(BadChainCase.BufferRunsIntoGap, ChainError.BufferOutOfMemory)]
    [InlineData(BadChainCase.SecondBufferOutsideMemory, ChainError.BufferOutOfMemory)]
    [InlineData(BadChainCase.AddrLenWrap, ChainError.BufferAddressWrap)]
    [InlineData(BadChainCase.TooManySegments, ChainError.TooManySegments)]
    [InlineData(BadChainCase.LengthOverflow, ChainError.LengthOverflow)]
    public void Bad_chain_is_reported_with_its_error_and_head_and_the_next_chain_works(BadChainCase kind, ChainError expected)
    {
        VirtqFeatures features = kind == BadChainCase.IndirectNotNegotiated ? VirtqFeatures.None : VirtqFeatures.IndirectDesc;
        using var fx = new QueueFixture(features);

        ushort head = Build(kind, fx.Driver);
        Assert.Equal(PopResult.BadChain, fx.Queue.Pop(fx.Chain));
        Assert.Equal(expected, fx.Chain.Error);
        Assert.Equal(head, fx.Chain.HeadIndex);
        Assert.Equal(0, fx.Chain.ReadableCount + fx.Chain.WritableCount);
        Assert.Equal(0u, fx.Chain.ReadableLength + fx.Chain.WritableLength);
        Assert.Equal(1ul, fx.Queue.Counters.BadChains);
        Assert.Equal(1ul, fx.Queue.Counters.BadChainsWith(expected));

        // The device returns it used with length 0; the queue is not broken.
        Assert.Equal(QueueError.None, fx.Queue.PushUsed(fx.Chain.HeadIndex, 0));
        Assert.Equal(QueueError.None, fx.Queue.PublishUsed());
        Assert.Equal(((uint)head, 0u), fx.Driver.UsedElem(0));
        Assert.Equal(QueueState.Running, fx.Queue.State);

        ushort good = fx.AddSimpleChain(20);
        Assert.Equal(PopResult.Chain, fx.Queue.Pop(fx.Chain));
        Assert.Equal(ChainError.None, fx.Chain.Error);
        Assert.Equal(good, fx.Chain.HeadIndex);
        Assert.Equal(20u, fx.Chain.ReadableLength);
        Assert.Equal(PopResult.Empty, fx.Queue.Pop(fx.Chain));
    }

    /// <summary>Builds one malformed chain and makes it available; returns the head the device should report.</summary>
    private static ushort Build(BadChainCase kind, MockSplitQueue d)
    {
        ulong buf = d.Allocate(64);
        ulong table = d.Allocate(64, 16);
        switch (kind)
        {
            case BadChainCase.Loop:
                // 10 -> 11 -> 10 -> ...: the chain never ends (zero-length buffers, so only the TTL stops it)
                d.WriteDesc(10, buf, 0, N, 11);
                d.WriteDesc(11, buf, 0, N, 10);
                return Avail(d, 10);
            case BadChainCase.ChainLongerThanQueue:
                // 0 -> 1 -> ... -> 255 -> 0: every descriptor once and then again, longer than the queue (256)
                for (int i = 0; i < d.Size; i++)
                    d.WriteDesc(i, buf, 0, N, (ushort)((i + 1) % d.Size));
                return Avail(d, 0);
            case BadChainCase.IndirectLoop:
                // indirect entries 0 -> 1 -> 0 -> ...: a loop inside an indirect table
                d.WriteDescAt(table, 0, buf, 0, N, 1);
                d.WriteDescAt(table, 1, buf, 0, N, 0);
                d.WriteDesc(5, table, 32, I);
                return Avail(d, 5);
            case BadChainCase.NextOutOfRange:
                // next = 256 in a queue of 256 descriptors
                d.WriteDesc(7, buf, 8, N, d.Size);
                return Avail(d, 7);
            case BadChainCase.IndirectNextOutOfRange:
                // a 2-entry indirect table whose entry 1 says next = 2 (entries are bounded by len / 16)
                d.WriteDescAt(table, 0, buf, 8, N, 1);
                d.WriteDescAt(table, 1, buf, 8, N, 2);
                d.WriteDesc(5, table, 32, I);
                return Avail(d, 5);
            case BadChainCase.HeadOutOfRange:
                // the available ring names head 256 in a queue of 256 descriptors
                return Avail(d, d.Size);
            case BadChainCase.NestedIndirect:
                // an indirect table whose entry is itself INDIRECT (here: pointing at its own table)
                d.WriteDescAt(table, 0, table, 16, I, 0);
                d.WriteDesc(5, table, 16, I);
                return Avail(d, 5);
            case BadChainCase.IndirectLenNotMultipleOf16:
                // indirect len 24: one and a half descriptors
                d.WriteDescAt(table, 0, buf, 8, 0, 0);
                d.WriteDesc(5, table, 24, I);
                return Avail(d, 5);
            case BadChainCase.IndirectLenZero:
                // indirect len 0: a table with no entry
                d.WriteDesc(5, table, 0, I);
                return Avail(d, 5);
            case BadChainCase.IndirectOutsideMemory:
                // the indirect table lies in the gap between regions
                d.WriteDesc(5, QueueFixture.Gap + 0x100, 32, I);
                return Avail(d, 5);
            case BadChainCase.IndirectAcrossRegions:
                // the indirect table straddles R1/R2: in memory, but not inside one region
                d.WriteDescAt(QueueFixture.R2 - 16, 0, buf, 8, N, 1);
                d.WriteDescAt(QueueFixture.R2 - 16, 1, buf, 8, 0, 0);
                d.WriteDesc(5, QueueFixture.R2 - 16, 32, I);
                return Avail(d, 5);
            case BadChainCase.IndirectAddressWraps:
                // indirect table at 2^64 - 16 with len 32: addr + len wraps
                d.WriteDesc(5, ulong.MaxValue - 15, 32, I);
                return Avail(d, 5);
            case BadChainCase.IndirectWithNext:
                // INDIRECT | NEXT on the same descriptor
                d.WriteDescAt(table, 0, buf, 8, 0, 0);
                d.WriteDesc(5, table, 16, I | N, 6);
                d.WriteDesc(6, buf, 8, 0);
                return Avail(d, 5);
            case BadChainCase.IndirectNotNegotiated:
                // a well-formed indirect table on a queue without VIRTIO_F_INDIRECT_DESC
                d.WriteDescAt(table, 0, buf, 8, 0, 0);
                d.WriteDesc(5, table, 16, I);
                return Avail(d, 5);
            case BadChainCase.ReadableAfterWritable:
                // writable buffer, then a readable one
                d.WriteDesc(3, buf, 8, W | N, 4);
                d.WriteDesc(4, buf + 8, 8, 0);
                return Avail(d, 3);
            case BadChainCase.ReadableAfterWritableInIndirect:
                // the same order violation inside an indirect table
                d.WriteDescAt(table, 0, buf, 8, W | N, 1);
                d.WriteDescAt(table, 1, buf + 8, 8, 0, 0);
                d.WriteDesc(5, table, 32, I);
                return Avail(d, 5);
            case BadChainCase.AddrOutsideMemory:
                // the buffer lies entirely in the gap
                d.WriteDesc(3, QueueFixture.Gap + 0x10, 8, 0);
                return Avail(d, 3);
            case BadChainCase.BufferRunsIntoGap:
                // the buffer starts in R3's last 4 bytes and runs 4 bytes past the end of memory
                d.WriteDesc(3, QueueFixture.R3End - 4, 8, 0);
                return Avail(d, 3);
            case BadChainCase.SecondBufferOutsideMemory:
                // a good readable buffer, then a writable one in the gap (the error comes after segments were added)
                d.WriteDesc(3, buf, 8, N, 4);
                d.WriteDesc(4, QueueFixture.Gap, 8, W);
                return Avail(d, 3);
            case BadChainCase.AddrLenWrap:
                // buffer at 2^64 - 16 with len 32: addr + len wraps
                d.WriteDesc(3, ulong.MaxValue - 15, 32, 0);
                return Avail(d, 3);
            case BadChainCase.TooManySegments:
                // 33 one-byte readable buffers; the DescriptorChain holds 32 segments
                for (int i = 0; i < 33; i++)
                    d.WriteDesc(100 + i, buf, 1, (ushort)(i < 32 ? N : 0), (ushort)(101 + i));
                return Avail(d, 100);
            case BadChainCase.LengthOverflow:
                // 0xFFFF_FFFF bytes then 1 more (in the big unbacked region): the total does not fit in u32
                d.WriteDesc(3, QueueFixture.Big, uint.MaxValue, N, 4);
                d.WriteDesc(4, QueueFixture.Big, 1, W);
                return Avail(d, 3);
            default:
                throw new ArgumentOutOfRangeException(nameof(kind));
        }
    }

    private static ushort Avail(MockSplitQueue d, ushort head)
    {
        d.MakeAvailable(head);
        return head;
    }

    [Fact]
    public void Straddling_buffer_needing_two_segments_with_room_for_one_is_too_many_segments()
    {
        using var fx = new QueueFixture(maxSegments: 1);
        // one 16-byte buffer straddling R1/R2 needs two segments
        fx.Driver.WriteDesc(0, QueueFixture.R2 - 8, 16, 0);
        fx.Driver.MakeAvailable(0);
        Assert.Equal(PopResult.BadChain, fx.Queue.Pop(fx.Chain));
        Assert.Equal(ChainError.TooManySegments, fx.Chain.Error);
    }

    [Fact]
    public void Maximum_length_sum_of_exactly_u32_max_is_accepted()
    {
        using var fx = new QueueFixture();
        fx.Driver.WriteDesc(3, QueueFixture.Big, uint.MaxValue - 1, N, 4);
        fx.Driver.WriteDesc(4, QueueFixture.Big, 1, W);
        fx.Driver.MakeAvailable(3);
        Assert.Equal(PopResult.Chain, fx.Queue.Pop(fx.Chain));
        Assert.Equal(uint.MaxValue - 1, fx.Chain.ReadableLength);
        Assert.Equal(1u, fx.Chain.WritableLength);
    }

    [Fact]
    public void Chain_of_exactly_queue_size_descriptors_is_accepted()
    {
        using var fx = new QueueFixture(size: 16);
        ulong buf = fx.Driver.Allocate(16);
        for (int i = 0; i < 16; i++)
            fx.Driver.WriteDesc(i, buf + (ulong)i, 1, (ushort)(i < 15 ? N : 0), (ushort)(i + 1));
        fx.Driver.MakeAvailable(0);
        Assert.Equal(PopResult.Chain, fx.Queue.Pop(fx.Chain));
        Assert.Equal(16, fx.Chain.DescriptorCount);
    }

    [Fact]
    public void Every_bad_chain_is_counted_under_its_reason()
    {
        using var fx = new QueueFixture();
        ushort[] heads = { 300, 400, 500 };
        foreach (ushort head in heads)
            fx.Driver.MakeAvailable(head); // all three are out of range for a 256-entry queue
        fx.Driver.WriteDesc(1, QueueFixture.Gap, 4, 0);
        fx.Driver.MakeAvailable(1);
        for (int i = 0; i < 4; i++)
            Assert.Equal(PopResult.BadChain, fx.Queue.Pop(fx.Chain));
        QueueCounters counters = fx.Queue.Counters;
        Assert.Equal(4ul, counters.BadChains);
        Assert.Equal(3ul, counters.HeadOutOfRange);
        Assert.Equal(1ul, counters.BufferOutOfMemory);
        Assert.Equal(0ul, counters.ChainsPopped);
    }
}
