using System.Linq;
using VsockNative.Protocol;
using VsockNative.Wire;
using Xunit;

namespace VsockNative.Tests.Protocol;

public class CloseTests
{
    private const uint Rcv = (uint)VirtioVsockShutdown.Rcv, Send = (uint)VirtioVsockShutdown.Send, Both = Rcv | Send;

    [Fact]
    public void Guest_shutdown_send_shuts_the_host_write_side_only_after_the_buffered_data_is_delivered()
    {
        using GuestSim g = GuestSim.Established();
        g.Host.WriteBudget = 100;
        g.SendPattern(0, 1000);
        g.Send(VirtioVsockOp.Shutdown, Send);
        Assert.False(g.Host.ShutWrite); // 900 bytes still buffered
        Assert.Equal(ConnState.Established, g.Conn.State);

        g.Host.WriteBudget = long.MaxValue;
        g.Conn.OnHostWritable(g.Now);
        Assert.Equal(new[] { (false, true) }, g.Host.Shutdowns);
        Assert.Equal(TestPattern.ToArray(0, 1000), g.Host.Received);
        Assert.False(g.Host.Closed);

        // the other direction still works
        g.Host.Readable = 10;
        g.Conn.OnHostReadable(g.Now);
        Assert.Equal(10u, g.Receive()!.Header.Len);
    }

    [Fact]
    public void Rw_after_the_guests_own_shutdown_send_resets()
    {
        using GuestSim g = GuestSim.Established();
        g.Send(VirtioVsockOp.Shutdown, Send);
        g.SendData(new byte[] { 1 });
        Assert.Equal(EndReason.UnexpectedOp, g.Conn.EndReason);
    }

    [Fact]
    public void Guest_shutdown_rcv_shuts_the_host_read_side_and_stops_reading()
    {
        using GuestSim g = GuestSim.Established();
        g.Host.Readable = 1000;
        g.Conn.OnHostReadable(g.Now);
        g.Send(VirtioVsockOp.Shutdown, Rcv);
        Assert.Equal(new[] { (true, false) }, g.Host.Shutdowns);
        Assert.False(g.Conn.HasPendingRx);
        Assert.False(g.Conn.WantsHostRead);
        g.Conn.OnHostReadable(g.Now);
        Assert.Null(g.Receive());
        Assert.Equal(0, g.Host.Reads);

        g.SendData(new byte[] { 7, 8 }); // guest -> host still works
        Assert.Equal(new byte[] { 7, 8 }, g.Host.Received);
    }

    [Fact]
    public void Host_eof_gives_shutdown_send_after_all_host_data_and_the_guest_may_keep_sending()
    {
        using GuestSim g = GuestSim.Established();
        g.Host.Readable = 5000;
        g.Host.Eof = true;
        g.Conn.OnHostReadable(g.Now);
        var got = g.ReceiveAll(2044);
        Assert.Equal(new uint[] { 2000, 2000, 1000 }, got.Take(3).Select(r => r.Header.Len));
        Assert.Equal(VirtioVsockOp.Shutdown, got[3].Op);
        Assert.Equal(Send, got[3].Header.Flags);
        Assert.Equal(4, got.Count);
        Assert.Equal(ConnState.Established, g.Conn.State); // half-closed, no timer
        Assert.Equal(long.MaxValue, g.Conn.DeadlineMs);
        Assert.False(g.Conn.WantsHostRead);

        g.SendData(new byte[] { 1, 2, 3 });
        Assert.Equal(new byte[] { 1, 2, 3 }, g.Host.Received);

        // the guest finishes too: both directions shut by the guest's packet -> our RST, done
        g.Send(VirtioVsockOp.Shutdown, Send);
        Assert.Equal(ConnState.Resetting, g.Conn.State);
        Assert.Equal(new[] { (false, true) }, g.Host.Shutdowns);
        Assert.True(g.Host.Closed);
        Assert.Equal(VirtioVsockOp.Rst, g.Receive()!.Op);
        Assert.True(g.Conn.IsDone);
        Assert.Equal(EndReason.Graceful, g.Conn.EndReason);
    }

    [Fact]
    public void Guest_close_with_a_slow_host_loses_nothing_then_we_reset()
    {
        // Linux close(): SHUTDOWN(RCV|SEND), then it waits for our RST.
        using GuestSim g = GuestSim.Established();
        g.Host.WriteBudget = 0;
        g.SendPattern(0, 100_000);
        g.Send(VirtioVsockOp.Shutdown, Both);
        Assert.Equal(ConnState.Closing, g.Conn.State);
        Assert.False(g.Conn.HasPendingRx); // no RST while data is still on its way to the host
        Assert.False(g.Host.Closed);

        g.Host.WriteBudget = 60_000;
        g.Conn.OnHostWritable(g.Now);
        Assert.Equal(ConnState.Closing, g.Conn.State);
        g.Host.WriteBudget = long.MaxValue;
        g.Conn.OnHostWritable(g.Now);

        Assert.Equal(TestPattern.ToArray(0, 100_000), g.Host.Received);
        Assert.Equal(new[] { (true, false), (false, true) }, g.Host.Shutdowns);
        Assert.True(g.Host.Closed);
        Assert.Equal(VirtioVsockOp.Rst, g.Receive()!.Op);
        Assert.True(g.Conn.IsDone);
        Assert.Equal(EndReason.Graceful, g.Conn.EndReason);
        Assert.Equal(0ul, g.Conn.Counters.BytesDropped);
    }

    [Fact]
    public void A_host_that_never_drains_is_cut_off_at_the_close_timeout()
    {
        var limits = new ConnectionLimits { CloseTimeoutMs = 500 };
        using GuestSim g = GuestSim.Established(limits);
        g.Host.WriteBudget = 0;
        g.SendPattern(0, 1000);
        g.Send(VirtioVsockOp.Shutdown, Both);
        Assert.Equal(g.Now + 500, g.Conn.DeadlineMs);
        g.Conn.OnTimer(g.Now + 499);
        Assert.Equal(ConnState.Closing, g.Conn.State);
        g.Conn.OnTimer(g.Now + 500);
        Assert.Equal(EndReason.CloseTimeout, g.Conn.EndReason);
        Assert.Equal(1ul, g.Conn.Counters.CloseTimeouts);
        Assert.Equal(1000ul, g.Conn.Counters.BytesDropped);
        Assert.True(g.Host.Closed);
        Assert.Equal(VirtioVsockOp.Rst, g.Receive()!.Op);
        Assert.True(g.Conn.IsDone);
    }

    [Fact]
    public void Host_hangup_delivers_what_the_host_sent_then_shuts_both_and_waits_for_the_guests_rst()
    {
        using GuestSim g = GuestSim.Established();
        g.AnswerFullShutdownWithRst = false;
        g.Host.Readable = 3000;
        g.Host.Eof = true;
        g.Conn.OnHostHangup(g.Now);
        Assert.False(g.Conn.WantsHostRead);
        Assert.False(g.Conn.WantsHostWrite);

        var got = g.ReceiveAll();
        Assert.Equal(VirtioVsockOp.Shutdown, got[0].Op);         // RCV at once: the host takes no more
        Assert.Equal(Rcv, got[0].Header.Flags);
        Assert.Equal(3000u, got[1].Header.Len);                  // what the host had written
        Assert.Equal(TestPattern.ToArray(0, 3000), got[1].Payload);
        Assert.Equal(Both, got[2].Header.Flags);                 // then everything is over
        Assert.Equal(ConnState.Closing, g.Conn.State);
        Assert.True(g.Host.Closed);                              // nothing left for the host

        g.SendData(new byte[] { 1 });                            // in flight before the guest saw RCV: dropped
        Assert.Equal(1ul, g.Conn.Counters.BytesDropped);
        g.Send(VirtioVsockOp.Rst);                               // what Linux answers
        Assert.True(g.Conn.IsDone);
        Assert.Equal(EndReason.Graceful, g.Conn.EndReason);
        Assert.Null(g.Receive());
    }

    [Fact]
    public void A_guest_that_never_answers_our_full_shutdown_is_reset_at_the_close_timeout()
    {
        var limits = new ConnectionLimits { CloseTimeoutMs = 2000 };
        using GuestSim g = GuestSim.Established(limits);
        g.AnswerFullShutdownWithRst = false;
        g.Host.Eof = true;
        g.Conn.OnHostHangup(g.Now);
        g.ReceiveAll();
        Assert.Equal(ConnState.Closing, g.Conn.State);
        Assert.Equal(g.Now + 2000, g.Conn.DeadlineMs);
        g.Conn.OnTimer(g.Now + 2000);
        Assert.Equal(VirtioVsockOp.Rst, g.Receive()!.Op);
        Assert.True(g.Conn.IsDone);
        Assert.Equal(EndReason.CloseTimeout, g.Conn.EndReason);
    }

    [Fact]
    public void Our_full_shutdown_waits_until_the_buffer_reached_the_host()
    {
        // Guest shut SEND with data still buffered; then the host reaches EOF. Telling the guest
        // RCV|SEND now would make Linux reset at once, so only SEND goes out until the buffer drained.
        using GuestSim g = GuestSim.Established();
        g.Host.WriteBudget = 0;
        g.SendPattern(0, 500);
        g.Send(VirtioVsockOp.Shutdown, Send);
        g.Host.Eof = true;
        g.Conn.OnHostReadable(g.Now);
        Received first = g.Receive()!;
        Assert.Equal(Send, first.Header.Flags);
        Assert.Equal(ConnState.Closing, g.Conn.State);
        Assert.False(g.Host.Closed);

        g.Host.WriteBudget = long.MaxValue;
        g.Conn.OnHostWritable(g.Now);
        Assert.True(g.Host.Closed);
        Received second = g.Receive()!; // now RCV|SEND, and the simulated Linux guest answers RST
        Assert.Equal(Both, second.Header.Flags);
        Assert.True(g.Conn.IsDone);
        Assert.Equal(TestPattern.ToArray(0, 500), g.Host.Received);
        Assert.Equal(EndReason.Graceful, g.Conn.EndReason);
    }

    [Fact]
    public void Guest_rst_closes_the_host_with_no_reply()
    {
        using GuestSim g = GuestSim.Established();
        g.Host.Readable = 100;
        g.Conn.OnHostReadable(g.Now);
        g.Send(VirtioVsockOp.Rst);
        Assert.True(g.Conn.IsDone);
        Assert.True(g.Host.Closed);
        Assert.False(g.Conn.HasPendingRx);
        Assert.Null(g.Receive());
        Assert.Equal(EndReason.GuestReset, g.Conn.EndReason);
    }

    [Fact]
    public void Host_write_error_tells_the_guest_rcv_and_drops_later_data_but_reading_goes_on()
    {
        using GuestSim g = GuestSim.Established();
        g.Host.WriteError = FakeHostStream.EPipe;
        g.SendPattern(0, 100);
        Assert.Equal(1ul, g.Conn.Counters.HostErrors);
        Assert.Equal(100ul, g.Conn.Counters.BytesDropped);
        Received r = g.Receive()!;
        Assert.Equal(VirtioVsockOp.Shutdown, r.Op);
        Assert.Equal(Rcv, r.Header.Flags);
        Assert.Equal(100u, r.Header.FwdCnt); // dropped bytes still free their credit

        g.SendPattern(100, 50);
        Assert.Equal(150ul, g.Conn.Counters.BytesDropped);
        Assert.Equal(1, g.Host.Writes); // not tried again

        g.Host.Readable = 10;
        g.Conn.OnHostReadable(g.Now);
        Assert.Equal(10u, g.Receive()!.Header.Len);
    }

    [Fact]
    public void Host_read_error_shuts_both_directions()
    {
        using GuestSim g = GuestSim.Established();
        g.AnswerFullShutdownWithRst = false;
        g.Host.ReadError = FakeHostStream.EConnReset;
        g.Conn.OnHostReadable(g.Now);
        Received r = g.Receive()!;
        Assert.Equal(VirtioVsockOp.Shutdown, r.Op);
        Assert.Equal(Both, r.Header.Flags);
        Assert.Equal(ConnState.Closing, g.Conn.State);
        Assert.Equal(1ul, g.Conn.Counters.HostErrors);
    }

    [Fact]
    public void Host_hangup_while_connecting_waits_for_the_guest_then_delivers_what_the_host_wrote_and_shuts()
    {
        // A hybrid client that writes "CONNECT P\n" and data, then closes at once: its bytes must
        // reach the guest and the guest must read end of stream, not a reset.
        using GuestSim g = GuestSim.Connecting();
        Assert.Equal(VirtioVsockOp.Request, g.Receive()!.Op);
        g.Host.Readable = 5;
        g.Host.Eof = true;
        g.Conn.OnHostHangup(g.Now);
        Assert.Null(g.Receive());  // nothing before the guest answers
        Assert.Equal(EndReason.None, g.Conn.EndReason);
        g.Send(VirtioVsockOp.Response);
        Assert.Equal(ConnectOutcome.Established, g.Conn.ConnectOutcome);
        var ops = g.ReceiveAll().Select(r => (r.Op, r.Header.Len, r.Header.Flags)).ToArray();
        Assert.Equal(new[]
        {
            (VirtioVsockOp.Shutdown, 0u, Rcv),
            (VirtioVsockOp.Rw, 5u, 0u),
            (VirtioVsockOp.Shutdown, 0u, Both),
        }, ops);
        Assert.True(g.Conn.IsDone); // the simulated guest answered RST
        Assert.Equal(1ul, g.Conn.Counters.HostHangups);
    }

    [Fact]
    public void Host_hangup_while_connecting_then_a_refusal_ends_without_reaching_the_guest()
    {
        using GuestSim g = GuestSim.Connecting();
        g.Receive(); // REQUEST
        g.Conn.OnHostHangup(g.Now);
        g.Send(VirtioVsockOp.Rst);
        Assert.Equal(ConnectOutcome.Refused, g.Conn.ConnectOutcome);
        Assert.True(g.Conn.IsDone);
        Assert.Null(g.Receive());
    }

    [Fact]
    public void Host_hangup_while_connecting_still_ends_at_the_connect_timeout()
    {
        using GuestSim g = GuestSim.Connecting();
        g.Receive(); // REQUEST
        g.Conn.OnHostHangup(g.Now);
        g.Now += ConnectionLimits.Default.ConnectTimeoutMs;
        g.Conn.OnTimer(g.Now);
        Assert.Equal(ConnectOutcome.TimedOut, g.Conn.ConnectOutcome);
        Assert.Equal(VirtioVsockOp.Rst, g.Receive()!.Op);
    }

    [Fact]
    public void Host_hangup_while_accepting_still_answers_response_first()
    {
        using GuestSim g = GuestSim.Accepting();
        g.Host.Readable = 5;
        g.Host.Eof = true;
        g.Conn.OnHostHangup(g.Now);
        var ops = g.ReceiveAll().Select(r => (r.Op, r.Header.Len, r.Header.Flags)).ToArray();
        Assert.Equal(new[]
        {
            (VirtioVsockOp.Response, 0u, 0u),
            (VirtioVsockOp.Shutdown, 0u, Rcv),
            (VirtioVsockOp.Rw, 5u, 0u),
            (VirtioVsockOp.Shutdown, 0u, Both),
        }, ops);
        Assert.True(g.Conn.IsDone); // the simulated guest answered RST
    }
}
