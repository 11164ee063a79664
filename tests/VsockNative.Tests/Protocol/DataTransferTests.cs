using System;
using VsockNative.Protocol;
using VsockNative.Wire;
using Xunit;

namespace VsockNative.Tests.Protocol;

public class DataTransferTests
{
    [Fact]
    public void Guest_data_split_across_buffers_reaches_the_host_in_order()
    {
        using GuestSim g = GuestSim.Established();
        byte[] a = TestPattern.ToArray(0, 1000), b = TestPattern.ToArray(1000, 3);
        g.SendData(a, 1, 2, 500, 999);
        g.SendData(b);
        Assert.Equal([.. a, .. b], g.Host.Received);
        Assert.Equal(1003ul, g.Conn.Counters.BytesToHost);
        Assert.Equal(0, g.Conn.BufferedToHost);
        Assert.False(g.Conn.WantsHostWrite);
    }

    /// <summary>Zero-copy both ways: the host write is handed the guest's own payload buffers (same
    /// addresses and lengths), and the host read is handed the rx buffer's own memory behind the
    /// header (no bounce buffer in between).</summary>
    [Fact]
    public void The_host_stream_is_handed_guest_memory_itself_both_ways()
    {
        using GuestSim g = GuestSim.Established();
        g.Host.RecordVecs = true;
        byte[] data = TestPattern.ToArray(0, 3000);
        IoVec[] payload = g.Memory.From(data, 1, 1000, 2999);
        g.SendRaw(g.Header(VirtioVsockOp.Rw, (uint)data.Length), payload);
        Assert.Equal(payload, g.Host.LastWriteVecs);
        Assert.Equal(data, g.Host.Received);

        g.Host.Readable = 1000;
        g.Conn.OnHostReadable(g.Now);
        IoVec[] rx = g.Memory.Split(2000, 10, 50, 1500);   // header split at 10; payload in three pieces
        uint written = g.Conn.FillRx(rx, g.Now);
        Assert.Equal(44u + 1000, written);
        // the header takes piece 0 (10 bytes) and 34 bytes of piece 1: the read gets the rest of piece 1, then 2 and 3
        IoVec[] expected =
        {
            new(rx[1].Base + 34, rx[1].Length - 34),
            rx[2],
            rx[3],
        };
        Assert.Equal(expected, g.Host.LastReadVecs);
    }

    [Fact]
    public void Host_data_is_read_into_the_rx_buffer_behind_a_header_split_anywhere()
    {
        using GuestSim g = GuestSim.Established();
        g.Host.Readable = 100_000;
        g.Conn.OnHostReadable(g.Now);
        Assert.True(g.Conn.HasPendingRx);
        Assert.False(g.Conn.WantsHostRead); // already known readable: level-triggered interest off

        long position = 0;
        int[][] layouts = { new[] { 1 }, new[] { 43 }, new[] { 44 }, new[] { 10, 20, 30, 45 }, new[] { 22, 100, 101 }, Array.Empty<int>() };
        foreach (int[] cuts in layouts)
        {
            Received r = g.Receive(300, cuts)!;
            Assert.Equal(VirtioVsockOp.Rw, r.Op);
            Assert.Equal(256u, r.Header.Len);
            Assert.Equal(0u, r.Header.Flags);
            Assert.Equal(ConnectionLimits.Default.BufAlloc, r.Header.BufAlloc);
            Assert.Equal(TestPattern.ToArray(position, 256), r.Payload);
            position += 256;
        }

        Assert.Equal((ulong)position, g.Conn.Counters.BytesToGuest);
    }

    [Fact]
    public void Both_directions_at_once_with_random_buffers_arrive_intact()
    {
        const long Total = 8 << 20;
        var rng = new Random(42);
        using GuestSim g = GuestSim.Established();
        g.Host.Record = false;
        g.Host.Readable = Total;
        g.Host.Eof = true;
        var toGuest = new StreamChecksum();
        long sent = 0;
        int rounds = 0;

        while ((sent < Total || g.Conn.State == ConnState.Established) && rounds++ < 1_000_000)
        {
            // guest -> host, within the credit it knows; the host takes a random amount
            g.Host.WriteBudget = rng.Next(0, 3) == 0 ? rng.Next(0, 70_000) : long.MaxValue;
            if (sent < Total && g.PeerFree > 0)
            {
                int n = (int)Math.Min(Math.Min(g.PeerFree, (uint)rng.Next(1, 70_000)), Total - sent);
                g.SendPattern(sent, n);
                sent += n;
            }

            if (g.Conn.WantsHostWrite)
                g.Conn.OnHostWritable(g.Now);
            if (g.Conn.WantsHostRead)
                g.Conn.OnHostReadable(g.Now);

            // host -> guest, into randomly cut rx buffers
            int size = rng.Next(44, 9000);
            int cut = rng.Next(1, size);
            Received? r = g.Receive(size, cut);
            if (r is { Op: VirtioVsockOp.Rw })
                toGuest.Append(r.Payload);
            if (sent == Total && g.Conn.BufferedToHost == 0 && (g.Conn.Counters.ShutdownsReceived == 0))
                g.Send(VirtioVsockOp.Shutdown, (uint)VirtioVsockShutdown.Send);
        }

        g.Host.WriteBudget = long.MaxValue;
        g.Conn.OnHostWritable(g.Now);
        g.ReceiveAll();
        Assert.Equal(TestPattern.ChecksumOf(Total), g.Host.ReceivedSum.Value);
        Assert.Equal(Total, toGuest.Length);
        Assert.Equal(TestPattern.ChecksumOf(Total), toGuest.Value);
        Assert.True(g.Conn.IsDone);
        Assert.Equal(EndReason.Graceful, g.Conn.EndReason);
        Assert.Equal(0ul, g.Conn.Counters.BytesDropped);
        Assert.Equal(0ul, g.Conn.Counters.CreditViolations);
    }

    [Fact]
    public void A_partial_host_write_is_buffered_and_flushed_in_order_on_writable()
    {
        using GuestSim g = GuestSim.Established();
        g.Host.WriteBudget = 1000;
        g.SendPattern(0, 5000);
        Assert.Equal(4000, g.Conn.BufferedToHost);
        Assert.True(g.Conn.WantsHostWrite);
        Assert.Equal(1000u, g.Conn.FwdCnt); // fwd_cnt counts what the host took

        g.SendPattern(5000, 700); // queued behind, never overtakes (host still full)
        Assert.Equal(4700, g.Conn.BufferedToHost);
        Assert.Equal(3ul, g.Conn.Counters.HostShortWrites); // partial write, failed flush, buffered behind

        g.Host.WriteBudget = 2500;
        g.Conn.OnHostWritable(g.Now);
        Assert.Equal(2200, g.Conn.BufferedToHost);
        g.Host.WriteBudget = long.MaxValue;
        g.Conn.OnHostWritable(g.Now);
        Assert.Equal(0, g.Conn.BufferedToHost);
        Assert.False(g.Conn.WantsHostWrite);
        Assert.False(g.Conn.HoldsTxArray); // the pooled array went back once empty
        Assert.Equal(TestPattern.ToArray(0, 5700), g.Host.Received);
        Assert.Equal(5700u, g.Conn.FwdCnt);
        Assert.Equal(4700ul, g.Conn.Counters.BytesBuffered);
    }

    [Fact]
    public void The_buffer_wraps_around_its_ring_without_reordering()
    {
        var limits = new ConnectionLimits { BufAlloc = 10_000 };
        using GuestSim g = GuestSim.Established(limits);
        var rng = new Random(7);
        long sent = 0;
        for (int i = 0; i < 2000; i++)
        {
            g.Host.WriteBudget = rng.Next(0, 5000);
            if (g.PeerFree > 0)
            {
                int n = (int)Math.Min(g.PeerFree, (uint)rng.Next(1, 4000));
                g.SendPattern(sent, n);
                sent += n;
            }

            g.Conn.OnHostWritable(g.Now);
            g.ReceiveAll(); // credit updates
        }

        g.Host.WriteBudget = long.MaxValue;
        g.Conn.OnHostWritable(g.Now);
        Assert.Equal(TestPattern.ChecksumOf(sent), g.Host.ReceivedSum.Value);
        Assert.Equal(0ul, g.Conn.Counters.CreditViolations);
    }

    [Fact]
    public void A_small_rx_buffer_gets_what_fits()
    {
        using GuestSim g = GuestSim.Established();
        g.Host.Readable = 1000;
        g.Conn.OnHostReadable(g.Now);
        Received r = g.Receive(44 + 10, 44)!; // header exactly in the first piece, 10 payload bytes
        Assert.Equal(10u, r.Header.Len);
        Assert.Equal(54u, r.Written);
        Assert.Equal(TestPattern.ToArray(0, 10), r.Payload);
        Assert.Equal(990, g.Host.Readable);
    }

    [Fact]
    public void A_buffer_shorter_than_a_header_gets_nothing_written()
    {
        using GuestSim g = GuestSim.Accepting(); // a RESPONSE is owed
        IoVec[] rx = g.Memory.Split(43, 20);
        Assert.Equal(0u, g.Conn.FillRx(rx, g.Now));
        Assert.All(NativeBuffers.Gather(rx, 0, 43), b => Assert.Equal(0xEE, b));
        Assert.True(g.Conn.HasPendingRx); // still owed
        Assert.Equal(VirtioVsockOp.Response, g.Receive(44)!.Op); // a bare header fits a control packet
    }

    [Fact]
    public void A_header_sized_buffer_gets_no_data()
    {
        using GuestSim g = GuestSim.Established();
        g.Host.Readable = 10;
        g.Conn.OnHostReadable(g.Now);
        Assert.Null(g.Receive(44));
        Assert.Equal(0, g.Host.Reads);
        Assert.Equal(10u, g.Receive(100)!.Header.Len);
    }

    [Fact]
    public void Would_block_from_the_host_turns_read_interest_back_on()
    {
        using GuestSim g = GuestSim.Established();
        g.Host.Readable = 0;
        g.Conn.OnHostReadable(g.Now); // spurious wakeup
        Assert.Null(g.Receive());
        Assert.False(g.Conn.HasPendingRx);
        Assert.True(g.Conn.WantsHostRead);
    }

    [Fact]
    public void An_empty_stream_rw_is_accepted_and_changes_nothing()
    {
        using GuestSim g = GuestSim.Established();
        g.SendData(ReadOnlySpan<byte>.Empty);
        Assert.Equal(ConnState.Established, g.Conn.State);
        Assert.Equal(0, g.Host.Writes);
    }
}
