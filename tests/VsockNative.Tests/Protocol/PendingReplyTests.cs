using System.Linq;
using VsockNative.Protocol;
using VsockNative.Wire;
using Xunit;

namespace VsockNative.Tests.Protocol;

/// <summary>Replies owed while the guest posts no rx buffers: kept as a set, drained in priority order, never dropped.</summary>
public class PendingReplyTests
{
    [Fact]
    public void Replies_wait_for_rx_buffers_and_come_out_control_first_in_fixed_order()
    {
        using GuestSim g = GuestSim.Accepting();                   // RESPONSE owed
        g.Send(VirtioVsockOp.CreditRequest);                      // CREDIT_UPDATE owed
        g.Send(VirtioVsockOp.CreditRequest);                      // the same one again: still one
        g.Host.Readable = 100;
        g.Host.Eof = true;
        g.Conn.OnHostHangup(g.Now);                               // SHUTDOWN(RCV) owed, data waits
        Assert.Equal(PendingReply.Response | PendingReply.Shutdown | PendingReply.CreditUpdate, g.Conn.Pending);

        g.AnswerFullShutdownWithRst = false;
        var ops = g.ReceiveAll().Select(r => r.Op).ToArray();
        Assert.Equal(new[]
        {
            VirtioVsockOp.Response, VirtioVsockOp.Shutdown, VirtioVsockOp.CreditUpdate, VirtioVsockOp.Rw, VirtioVsockOp.Shutdown,
        }, ops);
    }

    [Fact]
    public void Rst_goes_first_and_replaces_everything_else()
    {
        using GuestSim g = GuestSim.Accepting();
        g.Send(VirtioVsockOp.CreditRequest);
        g.Conn.OnHostHangup(g.Now);
        g.Send(VirtioVsockOp.Request); // duplicate: reset
        Assert.Equal(PendingReply.Rst, g.Conn.Pending);
        var ops = g.ReceiveAll().Select(r => r.Op).ToArray();
        Assert.Equal(new[] { VirtioVsockOp.Rst }, ops);
        Assert.True(g.Conn.IsDone);
    }

    [Fact]
    public void Credit_update_goes_before_data_and_credit_request_after_it()
    {
        using GuestSim g = GuestSim.Established();
        g.AutoConsume = false;
        g.BufAlloc = 100;
        g.Send(VirtioVsockOp.CreditRequest);
        g.Host.Readable = 1000;
        g.Conn.OnHostReadable(g.Now);
        var ops = g.ReceiveAll().Select(r => r.Op).ToArray();
        Assert.Equal(new[] { VirtioVsockOp.CreditUpdate, VirtioVsockOp.Rw, VirtioVsockOp.CreditRequest }, ops);
    }

    [Fact]
    public void A_long_time_without_rx_buffers_loses_nothing()
    {
        using GuestSim g = GuestSim.Established();
        g.AnswerFullShutdownWithRst = false;
        for (int i = 0; i < 1000; i++)
        {
            g.Send(VirtioVsockOp.CreditRequest);
            g.SendPattern(i, 1);
        }

        g.Host.Readable = 3;
        g.Host.Eof = true;
        g.Conn.OnHostReadable(g.Now);
        Assert.Equal(PendingReply.CreditUpdate, g.Conn.Pending); // bounded: one of each at most
        var got = g.ReceiveAll();
        Assert.Equal(new[] { VirtioVsockOp.CreditUpdate, VirtioVsockOp.Rw, VirtioVsockOp.Shutdown }, got.Select(r => r.Op));
        Assert.Equal(1000u, got[0].Header.FwdCnt); // the update carries the current fwd_cnt
        Assert.Equal(1000, g.Host.ReceivedCount);
    }
}
