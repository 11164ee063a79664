using System;
using System.Collections.Generic;
using VsockNative.Virtqueue;
using VsockNative.Wire;
using Xunit;

namespace VsockNative.Tests.Virtqueue;

public unsafe class ChainWalkTests
{
    private const int HeaderSize = 44; // struct virtio_vsock_hdr
    private static readonly int[] PayloadSizes = { 0, 1, 37, 300 };

    [Fact]
    public void Every_header_split_and_piece_count_round_trips_direct_and_indirect()
    {
        // A 2 KiB heap around the R1/R2 boundary: buffers straddle it every few chains.
        using var fx = new QueueFixture(VirtqFeatures.IndirectDesc | VirtqFeatures.EventIdx,
            heapStart: QueueFixture.R2 - 0x400, heapEnd: QueueFixture.R2 + 0x400);
        var random = new Random(20240601);
        int chains = 0, straddling = 0;
        foreach (bool indirect in new[] { false, true })
            for (int k = 0; k <= HeaderSize; k++)
                for (int pieces = 1; pieces <= 8; pieces++)
                    foreach (int payload in PayloadSizes)
                    {
                        straddling += RoundTrip(fx, random, k, pieces, payload, writables: chains % 3, indirect);
                        chains++;
                    }

        Assert.Equal(2 * 45 * 8 * PayloadSizes.Length, chains);
        Assert.True(straddling > 150, $"only {straddling} chains had a buffer straddling a region boundary");
        QueueCounters counters = fx.Queue.Counters;
        Assert.Equal((ulong)chains, counters.ChainsPopped);
        Assert.Equal(0ul, counters.BadChains);
    }

    /// <summary>
    /// One chain: header+payload split as [0,k) then n pieces (readable), plus some writable
    /// buffers. Checks the gathered readable bytes and what the device wrote back, by checksum.
    /// Returns 1 when some buffer straddled a region boundary.
    /// </summary>
    private static int RoundTrip(QueueFixture fx, Random random, int k, int pieces, int payload, int writables, bool indirect)
    {
        byte[] stream = new byte[HeaderSize + payload];
        random.NextBytes(stream);
        var buffers = new List<MockBuffer>();
        if (k > 0)
            buffers.Add(fx.Driver.AddData(stream.AsSpan(0, k)));
        int offset = k;
        foreach (int piece in Split(stream.Length - k, pieces, random))
        {
            buffers.Add(fx.Driver.AddData(stream.AsSpan(offset, piece)));
            offset += piece;
        }

        uint writableLength = 0;
        for (int w = 0; w < writables; w++)
        {
            MockBuffer buffer = fx.Driver.AddWritable((uint)random.Next(1, 64));
            writableLength += buffer.Length;
            buffers.Add(buffer);
        }

        ushort head = fx.Driver.AddChain(buffers.ToArray(), indirect);
        PopResult popped = fx.Queue.Pop(fx.Chain);
        Assert.True(popped == PopResult.Chain, $"k={k} pieces={pieces} payload={payload} indirect={indirect}: {popped} {fx.Chain.Error}");
        DescriptorChain chain = fx.Chain;
        Assert.Equal(head, chain.HeadIndex);
        Assert.Equal(indirect, chain.UsedIndirectTable);
        Assert.Equal((uint)stream.Length, chain.ReadableLength);
        Assert.Equal(writableLength, chain.WritableLength);
        Assert.Equal(Checksum(stream), Checksum(Gather(chain.Readable)));

        byte[] reply = new byte[writableLength];
        random.NextBytes(reply);
        Scatter(reply, chain.Writable);
        ushort usedIdx = fx.Queue.NextUsedIdx;
        Assert.Equal(QueueError.None, fx.Queue.PushUsed(head, writableLength));
        Assert.Equal(QueueError.None, fx.Queue.PublishUsed());
        Assert.Equal((ushort)(usedIdx + 1), fx.Driver.UsedIdx);
        Assert.Equal((head, writableLength), fx.Driver.UsedElem(usedIdx));
        Assert.Equal(Checksum(reply), Checksum(ReadBack(fx, buffers, writable: true)));

        int segments = chain.ReadableCount + chain.WritableCount;
        int nonEmpty = buffers.FindAll(b => b.Length > 0).Count;
        return segments > nonEmpty ? 1 : 0;
    }

    [Fact]
    public void Buffer_straddling_adjacent_regions_becomes_two_segments()
    {
        using var fx = new QueueFixture();
        fx.Driver.SeekHeap(QueueFixture.R2 - 5);
        byte[] data = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };
        ushort head = fx.Driver.AddChain(new[] { fx.Driver.AddData(data) });
        Assert.Equal(PopResult.Chain, fx.Queue.Pop(fx.Chain));
        Assert.Equal(head, fx.Chain.HeadIndex);
        Assert.Equal(2, fx.Chain.ReadableCount);
        Assert.Equal((nuint)5, fx.Chain.Readable[0].Length);
        Assert.Equal((nuint)7, fx.Chain.Readable[1].Length);
        Assert.Equal((nint)fx.Memory.HostOf(QueueFixture.R2 - 5), fx.Chain.Readable[0].Base);
        Assert.Equal((nint)fx.Memory.HostOf(QueueFixture.R2), fx.Chain.Readable[1].Base);
        Assert.Equal(data, Gather(fx.Chain.Readable));
    }

    [Fact]
    public void Zero_length_descriptor_is_accepted_and_adds_no_segment()
    {
        using var fx = new QueueFixture();
        // A zero-length buffer touches no memory, so even an address in the gap is harmless.
        ushort head = fx.Driver.AddChain(new[]
        {
            new MockBuffer(QueueFixture.Gap, 0), fx.Driver.AddData(new byte[] { 42 }), new MockBuffer(0, 0, true),
        });
        Assert.Equal(PopResult.Chain, fx.Queue.Pop(fx.Chain));
        Assert.Equal(head, fx.Chain.HeadIndex);
        Assert.Equal(3, fx.Chain.DescriptorCount);
        Assert.Equal(1, fx.Chain.ReadableCount);
        Assert.Equal(0, fx.Chain.WritableCount);
        Assert.Equal(1u, fx.Chain.ReadableLength);
    }

    [Fact]
    public void Writable_only_chain_like_an_rx_buffer_is_accepted()
    {
        using var fx = new QueueFixture();
        ushort head = fx.Driver.AddChain(new[] { fx.Driver.AddWritable(44), fx.Driver.AddWritable(100) }, indirect: true);
        Assert.Equal(PopResult.Chain, fx.Queue.Pop(fx.Chain));
        Assert.Equal(head, fx.Chain.HeadIndex);
        Assert.Equal(0u, fx.Chain.ReadableLength);
        Assert.Equal(144u, fx.Chain.WritableLength);
        Assert.Equal(3, fx.Chain.DescriptorCount); // the indirect descriptor and two entries
    }

    [Fact]
    public void Direct_prefix_followed_by_an_indirect_table_is_walked_in_order()
    {
        using var fx = new QueueFixture();
        MockSplitQueue d = fx.Driver;
        MockBuffer a = d.AddData(new byte[] { 1, 2 });
        MockBuffer b = d.AddData(new byte[] { 3, 4, 5 });
        ulong table = d.Allocate(16, 16);
        d.WriteDescAt(table, 0, b.Gpa, b.Length, 0, 0);
        d.WriteDesc(40, a.Gpa, a.Length, VirtqDescFlags.Next, 41);
        d.WriteDesc(41, table, 16, VirtqDescFlags.Indirect);
        d.MakeAvailable(40);
        Assert.Equal(PopResult.Chain, fx.Queue.Pop(fx.Chain));
        Assert.Equal(new byte[] { 1, 2, 3, 4, 5 }, Gather(fx.Chain.Readable));
        Assert.True(fx.Chain.UsedIndirectTable);
    }

    [Fact]
    public void Indirect_table_with_more_entries_than_the_queue_size_is_accepted()
    {
        using var fx = new QueueFixture(size: 4, maxSegments: 64);
        var buffers = new MockBuffer[10];
        for (int i = 0; i < buffers.Length; i++)
            buffers[i] = fx.Driver.AddData(new[] { (byte)i });
        ushort head = fx.Driver.AddChain(buffers, indirect: true);
        Assert.Equal(PopResult.Chain, fx.Queue.Pop(fx.Chain));
        Assert.Equal(head, fx.Chain.HeadIndex);
        Assert.Equal(new byte[] { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 }, Gather(fx.Chain.Readable));
    }

    private static IEnumerable<int> Split(int total, int pieces, Random random)
    {
        var cuts = new int[pieces + 1];
        cuts[pieces] = total;
        for (int i = 1; i < pieces; i++)
            cuts[i] = random.Next(0, total + 1);
        Array.Sort(cuts, 1, pieces - 1);
        for (int i = 0; i < pieces; i++)
            yield return cuts[i + 1] - cuts[i];
    }

    internal static byte[] Gather(ReadOnlySpan<IoVec> segments)
    {
        var bytes = new List<byte>();
        foreach (IoVec segment in segments)
            bytes.AddRange(new ReadOnlySpan<byte>((void*)segment.Base, (int)segment.Length).ToArray());
        return bytes.ToArray();
    }

    private static void Scatter(ReadOnlySpan<byte> data, ReadOnlySpan<IoVec> segments)
    {
        foreach (IoVec segment in segments)
        {
            data[..(int)segment.Length].CopyTo(new Span<byte>((void*)segment.Base, (int)segment.Length));
            data = data[(int)segment.Length..];
        }

        Assert.True(data.IsEmpty);
    }

    private static byte[] ReadBack(QueueFixture fx, List<MockBuffer> buffers, bool writable)
    {
        var bytes = new List<byte>();
        foreach (MockBuffer buffer in buffers)
        {
            if (buffer.Writable != writable)
                continue;
            byte[] part = new byte[buffer.Length];
            fx.Memory.Read(buffer.Gpa, part);
            bytes.AddRange(part);
        }

        return bytes.ToArray();
    }

    /// <summary>FNV-1a, 64 bit.</summary>
    private static ulong Checksum(ReadOnlySpan<byte> data)
    {
        ulong hash = 14695981039346656037;
        foreach (byte b in data)
            hash = (hash ^ b) * 1099511628211;
        return hash;
    }
}
