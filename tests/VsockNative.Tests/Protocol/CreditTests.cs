using System;
using System.Diagnostics;
using VsockNative.Protocol;
using VsockNative.Wire;
using Xunit;
using Xunit.Abstractions;

namespace VsockNative.Tests.Protocol;

public class CreditTests
{
    private const long GiB = 1L << 30;
    private static readonly Lazy<ulong> GiBChecksum = new(() => TestPattern.ChecksumOf(GiB));
    private readonly ITestOutputHelper output;

    public CreditTests(ITestOutputHelper output) => this.output = output;

    [Fact]
    public void Free_space_uses_u32_wrap_around()
    {
        Assert.Equal(1000u, CreditMath.Free(1000, 5, 5));
        Assert.Equal(900u, CreditMath.Free(1000, 0x0000_0050, 0xFFFF_FFEC)); // tx_cnt wrapped, fwd_cnt not yet: 100 in flight
        Assert.Equal(0u, CreditMath.Free(1000, 1000, 0));
        Assert.Equal(0u, CreditMath.Free(1000, 10, 20));  // receiver claims more than was sent: 0, not 4 GiB
        Assert.Equal(0u, CreditMath.Free(100, 500, 0));   // receiver shrank buf_alloc below what is in flight
    }

    [Fact]
    public void Every_packet_carries_our_buf_alloc_and_fwd_cnt_and_every_guest_packet_updates_the_peer_credit()
    {
        using GuestSim g = GuestSim.Established(new ConnectionLimits { BufAlloc = 50_000 });
        g.SendPattern(0, 1234);
        g.Send(VirtioVsockOp.CreditRequest);
        Received u = g.Receive()!;
        Assert.Equal(VirtioVsockOp.CreditUpdate, u.Op);
        Assert.Equal(50_000u, u.Header.BufAlloc);
        Assert.Equal(1234u, u.Header.FwdCnt);

        g.BufAlloc = 777;
        g.FwdCnt = 0;
        g.Send(VirtioVsockOp.Shutdown, 0); // any op carries credit; a SHUTDOWN of nothing is a no-op
        Assert.Equal(777u, g.Conn.PeerFree);
    }

    [Fact]
    public void Credit_request_is_always_answered_even_with_plenty_of_space()
    {
        using GuestSim g = GuestSim.Established();
        g.Send(VirtioVsockOp.CreditRequest);
        Assert.Equal(VirtioVsockOp.CreditUpdate, g.Receive()!.Op);
        Assert.Equal(1ul, g.Conn.Counters.CreditUpdatesSent);
    }

    [Fact]
    public void Rw_beyond_the_advertised_credit_resets_and_counts_a_violation()
    {
        var limits = new ConnectionLimits { BufAlloc = 4096 };
        using GuestSim g = GuestSim.Established(limits);
        g.Host.WriteBudget = 0; // host takes nothing: the real free space shrinks too
        g.SendPattern(0, 4000);
        g.SendPattern(4000, 96); // exactly the rest of the credit: fine
        Assert.Equal(ConnState.Established, g.Conn.State);
        g.SendPattern(4096, 1); // one byte too many
        Assert.Equal(ConnState.Resetting, g.Conn.State);
        Assert.Equal(EndReason.CreditViolation, g.Conn.EndReason);
        Assert.Equal(1ul, g.Conn.Counters.CreditViolations);
        Assert.Equal(4096ul, g.Conn.Counters.BytesDropped); // reset: the buffer is gone
        Assert.True(g.Host.Closed);
        Assert.Equal(VirtioVsockOp.Rst, g.Receive()!.Op);
    }

    [Fact]
    public void Credit_is_what_we_advertised_not_what_is_free_now()
    {
        // The host drained everything, but the guest was not told yet: sending more than the
        // advertised credit is still a violation (the guest cannot know about the free space).
        var limits = new ConnectionLimits { BufAlloc = 4096 };
        using GuestSim g = GuestSim.Established(limits);
        g.SendPattern(0, 4096);
        Assert.Equal(0u, g.Conn.AdvertisedFree);
        g.SendPattern(4096, 1);
        Assert.Equal(EndReason.CreditViolation, g.Conn.EndReason);
    }

    [Fact]
    public void Credit_update_is_offered_only_when_the_guests_view_is_low_and_real_space_is_back()
    {
        var limits = new ConnectionLimits { BufAlloc = 100_000 }; // threshold = min(64 KiB, 50 000) = 50 000
        Assert.Equal(50_000u, limits.CreditUpdateThreshold);
        using GuestSim g = GuestSim.Established(limits);

        g.SendPattern(0, 50_000); // guest's view: 50 000 left, not below the threshold
        Assert.Equal(PendingReply.None, g.Conn.Pending);
        g.Host.WriteBudget = 0;
        g.SendPattern(50_000, 10_000); // view 40 000 < threshold, but the host took nothing: real free 90 000? no:
        // real free = 100 000 - buffered 10 000 = 90 000 >= threshold, so the update is due
        Assert.Equal(PendingReply.CreditUpdate, g.Conn.Pending);
        Received u = g.Receive()!;
        Assert.Equal(50_000u, u.Header.FwdCnt); // the buffered 10 000 are not forwarded yet

        g.SendPattern(60_000, 45_000); // buffered 55 000: real free 45 000 < threshold: no update yet
        Assert.Equal(PendingReply.None, g.Conn.Pending);
        g.Host.WriteBudget = long.MaxValue;
        g.Conn.OnHostWritable(g.Now); // drained: real free back to 100 000
        Assert.Equal(PendingReply.CreditUpdate, g.Conn.Pending);
        Assert.Equal(105_000u, g.Receive()!.Header.FwdCnt);
    }

    [Fact]
    public void Threshold_is_at_most_64_KiB_and_at_most_half_of_buf_alloc()
    {
        Assert.Equal(64u * 1024, ConnectionLimits.Default.CreditUpdateThreshold);
        Assert.Equal(2048u, new ConnectionLimits { BufAlloc = 4096 }.CreditUpdateThreshold);
        Assert.Equal(1u, new ConnectionLimits { BufAlloc = 1 }.CreditUpdateThreshold);
        Assert.Throws<ArgumentOutOfRangeException>(() => new ConnectionLimits { BufAlloc = 0 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new ConnectionLimits { BufAlloc = ConnectionLimits.MaxBufAlloc + 1 });
    }

    [Fact]
    public void No_peer_credit_means_one_credit_request_and_no_read_interest_until_credit_arrives()
    {
        using GuestSim g = GuestSim.Established();
        g.AutoConsume = false; // the guest application is not reading
        g.BufAlloc = 5000;
        g.Send(VirtioVsockOp.CreditUpdate);
        g.Host.Readable = 1_000_000;
        g.Conn.OnHostReadable(g.Now);

        g.ReceiveAll(); // 5000 bytes of data, then one CREDIT_REQUEST
        Assert.Equal(5000ul, g.Conn.Counters.BytesToGuest);
        Assert.Equal(1ul, g.Conn.Counters.CreditRequestsSent);
        Assert.Equal(VirtioVsockOp.CreditRequest, g.Log[^1].Op);
        // the guest answered with CREDIT_UPDATE, still 0 free: no second request, nothing to do
        Assert.Equal(0u, g.Conn.PeerFree);
        Assert.False(g.Conn.HasPendingRx);
        Assert.False(g.Conn.WantsHostRead);
        g.Conn.OnHostReadable(g.Now);
        Assert.Null(g.Receive());
        Assert.Equal(1ul, g.Conn.Counters.CreditRequestsSent);

        g.Consume(5000); // the application read; Linux sends CREDIT_UPDATE
        Assert.True(g.Conn.HasPendingRx);
        g.ReceiveAll();
        Assert.Equal(10_000ul, g.Conn.Counters.BytesToGuest);
        Assert.Equal(2ul, g.Conn.Counters.CreditRequestsSent); // a new stall may ask once again
    }

    [Fact]
    public void Counters_wrap_past_2_pow_32_in_both_directions()
    {
        const uint Start = uint.MaxValue - 100_000;
        const int Total = 1 << 20;
        using GuestSim g = GuestSim.Established(initialCount: Start);
        g.Host.Record = false;
        g.Host.Readable = Total;
        g.Conn.OnHostReadable(g.Now);
        var toGuest = new StreamChecksum();
        long sent = 0;
        var rng = new Random(3);
        while (sent < Total || toGuest.Length < Total)
        {
            if (sent < Total && g.PeerFree > 0)
            {
                int n = (int)Math.Min(Math.Min(g.PeerFree, 30_000u), Total - sent);
                g.Host.WriteBudget = rng.Next(0, 40_000);
                g.SendPattern(sent, n);
                sent += n;
            }

            g.Host.WriteBudget = long.MaxValue;
            g.Conn.OnHostWritable(g.Now);
            if (g.Conn.WantsHostRead)
                g.Conn.OnHostReadable(g.Now);
            Received? r = g.Receive(8192 + 44, 30);
            if (r is { Op: VirtioVsockOp.Rw })
                toGuest.Append(r.Payload);
        }

        Assert.True(g.Conn.RxCnt < Start && g.Conn.FwdCnt < Start && g.Conn.TxCnt < Start); // all wrapped
        Assert.Equal(unchecked(Start + (uint)Total), g.Conn.RxCnt);
        Assert.Equal(g.Conn.RxCnt, g.Conn.FwdCnt);
        Assert.Equal(unchecked(Start + (uint)Total), g.Conn.TxCnt);
        Assert.Equal(TestPattern.ChecksumOf(Total), g.Host.ReceivedSum.Value);
        Assert.Equal(TestPattern.ChecksumOf(Total), toGuest.Value);
        Assert.Equal(0ul, g.Conn.Counters.CreditViolations);
        Assert.Equal(ConnState.Established, g.Conn.State);
    }

    /// <summary>1 GiB guest -> host with no host -> guest traffic at all: the guest only sends
    /// within the credit it learned, so it finishes only because the device sends CREDIT_UPDATE on
    /// its own (seed 000: the unidirectional stall).</summary>
    [Fact]
    public void One_GiB_guest_to_host_completes_on_unsolicited_credit_updates()
    {
        using GuestSim g = GuestSim.Established();
        g.Host.Record = false;
        var watch = Stopwatch.StartNew();
        long sent = 0;
        ulong packets = 0;
        while (sent < GiB)
        {
            uint free = g.PeerFree;
            if (free > 0)
            {
                int n = (int)Math.Min(Math.Min(free, 64u * 1024), GiB - sent);
                g.SendPattern(sent, n);
                sent += n;
                packets++;
                continue;
            }

            // out of credit: the only way on is a packet from the device
            Assert.True(g.Conn.HasPendingRx, $"stalled at {sent} bytes");
            Received r = g.Receive(44)!;
            Assert.Equal(VirtioVsockOp.CreditUpdate, r.Op);
        }

        output.WriteLine($"{watch.ElapsedMilliseconds} ms, {g.Conn.Counters.CreditUpdatesSent} credit updates, {packets} RW");
        Assert.Equal(GiBChecksum.Value, g.Host.ReceivedSum.Value);
        Assert.Equal(0ul, g.Conn.Counters.DataPacketsToGuest);
        Assert.True(g.Conn.Counters.CreditUpdatesSent >= (ulong)(GiB / (256 * 1024)) - 1); // about one per buf_alloc
        Assert.Equal(0ul, g.Conn.Counters.CreditViolations);
    }

    /// <summary>1 GiB host -> guest with no guest data: the guest consumes at once and sends
    /// CREDIT_UPDATE as Linux does, and the device never sends more than that credit.</summary>
    [Fact]
    public void One_GiB_host_to_guest_completes_within_the_guests_credit()
    {
        using GuestSim g = GuestSim.Established();
        g.Host.Readable = GiB;
        g.Host.Eof = true;
        g.Conn.OnHostReadable(g.Now);
        IoVec[] rx = g.Memory.Split(16 * 1024 + 44, 20);
        var sum = new StreamChecksum();
        var watch = Stopwatch.StartNew();
        while (true)
        {
            Assert.True(g.Conn.HasPendingRx, $"stalled at {sum.Length} bytes");
            uint written = g.Conn.FillRx(rx, g.Now);
            PacketHeader h = PacketHeader.Read(rx);
            Assert.True(h.Len <= CreditMath.Free(g.BufAlloc, unchecked((uint)sum.Length), g.LastFwdSent), "sent beyond credit");
            g.Absorb(h); // learn, consume, maybe CREDIT_UPDATE
            if (h.Op == (ushort)VirtioVsockOp.Rw)
            {
                Assert.Equal(44u + h.Len, written);
                sum.Append(rx.AsSpan(), 44, h.Len);
                continue;
            }

            Assert.Equal(VirtioVsockOp.Shutdown, (VirtioVsockOp)h.Op);
            break;
        }

        output.WriteLine($"{watch.ElapsedMilliseconds} ms, {g.Conn.Counters.DataPacketsToGuest} RW, {g.Conn.Counters.CreditRequestsSent} credit requests");
        Assert.Equal((ulong)GiB, g.Conn.Counters.BytesToGuest);
        Assert.Equal(GiBChecksum.Value, sum.Value);
        Assert.Equal(0ul, g.Conn.Counters.CreditRequestsSent); // Linux's own updates kept it going
        Assert.Equal(0ul, g.Conn.Counters.PacketsFromGuest - g.Conn.Counters.CreditUpdatesReceived - 1);
    }
}
