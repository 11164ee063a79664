using System;
using System.Collections.Generic;
using VsockNative.Protocol;
using VsockNative.Wire;
using Xunit;

namespace VsockNative.Tests.Protocol;

/// <summary>Every (state, op) pair of the transition switch, with the state it leads to.</summary>
public class TransitionTests
{
    private const uint RcvSend = (uint)(VirtioVsockShutdown.Rcv | VirtioVsockShutdown.Send);

    public static IEnumerable<object[]> Table()
    {
        const ConnState C = ConnState.Connecting, A = ConnState.Accepting, E = ConnState.Established,
            L = ConnState.Closing, R = ConnState.Resetting, X = ConnState.Closed;
        const VirtioVsockOp Req = VirtioVsockOp.Request, Resp = VirtioVsockOp.Response, Rst = VirtioVsockOp.Rst,
            Shut = VirtioVsockOp.Shutdown, Rw = VirtioVsockOp.Rw, Upd = VirtioVsockOp.CreditUpdate, CReq = VirtioVsockOp.CreditRequest;
        const EndReason None = EndReason.None, Dup = EndReason.DuplicateRequest, Unexp = EndReason.UnexpectedOp;

        // from, op, to, end reason
        return new[]
        {
            new object[] { C, Req, R, Dup },                    // simultaneous connect on the same ports: reset
            new object[] { C, Resp, E, None },                  // the guest accepted
            new object[] { C, Rst, X, EndReason.Refused },      // the guest refused: no reply
            new object[] { C, Shut, R, Unexp },
            new object[] { C, Rw, R, Unexp },                   // data before RESPONSE
            new object[] { C, Upd, R, Unexp },
            new object[] { C, CReq, R, Unexp },

            new object[] { A, Req, R, Dup },                    // a second REQUEST before our RESPONSE
            new object[] { A, Resp, R, Unexp },                 // only we may answer
            new object[] { A, Rst, X, EndReason.GuestReset },   // the guest gave up
            new object[] { A, Shut, R, Unexp },
            new object[] { A, Rw, R, Unexp },                   // data before it heard our RESPONSE (it has no credit)
            new object[] { A, Upd, A, None },                   // credit info is harmless
            new object[] { A, CReq, A, None },                  // answered after the RESPONSE

            new object[] { E, Req, R, Dup },                    // seed 000: REQUEST for an existing connection
            new object[] { E, Resp, R, Unexp },
            new object[] { E, Rst, X, EndReason.GuestReset },
            new object[] { E, Shut, E, None },                  // SHUTDOWN(SEND): half-closed, still established
            new object[] { E, Rw, E, None },
            new object[] { E, Upd, E, None },
            new object[] { E, CReq, E, None },

            new object[] { L, Req, R, Dup },
            new object[] { L, Resp, R, Unexp },
            new object[] { L, Rst, X, EndReason.Graceful },     // the answer we were waiting for
            new object[] { L, Shut, R, EndReason.Graceful },    // the guest closes too and waits for our RST
            new object[] { L, Rw, L, None },                    // in flight before our SHUTDOWN(RCV): dropped
            new object[] { L, Upd, L, None },
            new object[] { L, CReq, L, None },

            new object[] { R, Req, R, Unexp },                    // everything but RST is ignored: our RST is owed
            new object[] { R, Resp, R, Unexp },
            new object[] { R, Rst, X, Unexp },                    // the guest reset too: ours is not sent
            new object[] { R, Shut, R, Unexp },
            new object[] { R, Rw, R, Unexp },
            new object[] { R, Upd, R, Unexp },
            new object[] { R, CReq, R, Unexp },

            new object[] { X, Req, X, EndReason.GuestReset },                    // closed: ignored and counted
            new object[] { X, Resp, X, EndReason.GuestReset },
            new object[] { X, Rst, X, EndReason.GuestReset },
            new object[] { X, Shut, X, EndReason.GuestReset },
            new object[] { X, Rw, X, EndReason.GuestReset },
            new object[] { X, Upd, X, EndReason.GuestReset },
            new object[] { X, CReq, X, EndReason.GuestReset },
        };
    }

    [Theory]
    [MemberData(nameof(Table))]
    public void Each_state_and_op_leads_where_the_table_says(ConnState from, VirtioVsockOp op, ConnState to, EndReason reason)
    {
        using GuestSim g = Reach(from);
        ConnectionCounters before = g.Conn.Counters;
        long hostBytes = g.Host.ReceivedCount;

        if (op == VirtioVsockOp.Rw)
            g.SendData(new byte[] { 1, 2, 3 });
        else
            g.Send(op, op == VirtioVsockOp.Shutdown ? (uint)VirtioVsockShutdown.Send : 0);

        Assert.Equal(to, g.Conn.State);
        Assert.Equal(reason, g.Conn.EndReason);
        ConnectionCounters after = g.Conn.Counters;

        if (from is ConnState.Resetting or ConnState.Closed && !(from == ConnState.Resetting && op == VirtioVsockOp.Rst))
        {
            Assert.Equal(before.PacketsIgnored + 1, after.PacketsIgnored);
            Assert.Equal(from == ConnState.Resetting ? PendingReply.Rst : PendingReply.None, g.Conn.Pending);
            return;
        }

        if (from == ConnState.Resetting)
        {
            Assert.Equal(before.ResetsReceived + 1, after.ResetsReceived);
            Assert.Null(g.Receive()); // the guest reset too: our RST is not sent
            Assert.True(g.Conn.IsDone);
            return;
        }

        if (reason == EndReason.DuplicateRequest)
            Assert.Equal(before.DuplicateRequests + 1, after.DuplicateRequests);
        if (reason == EndReason.UnexpectedOp)
            Assert.Equal(before.UnexpectedOps + 1, after.UnexpectedOps);
        if (to == ConnState.Resetting)
        {
            Assert.Equal(PendingReply.Rst, g.Conn.Pending); // RST replaces anything else owed
            Assert.True(g.Host.Closed);
            Assert.Equal(VirtioVsockOp.Rst, g.Receive()!.Op);
            Assert.True(g.Conn.IsDone);
        }

        if (to == ConnState.Closed)
        {
            Assert.True(g.Host.Closed);
            Assert.Null(g.Receive()); // no reply to an RST
            Assert.True(g.Conn.IsDone);
        }

        if (from == ConnState.Established && op == VirtioVsockOp.Rw)
            Assert.Equal(hostBytes + 3, g.Host.ReceivedCount);
        if (from == ConnState.Closing && op == VirtioVsockOp.Rw)
            Assert.Equal(before.BytesDropped + 3, after.BytesDropped);
        if (op == VirtioVsockOp.CreditRequest && to != ConnState.Resetting)
            Assert.True((g.Conn.Pending & PendingReply.CreditUpdate) != 0);
        if (op == VirtioVsockOp.CreditUpdate && to != ConnState.Resetting)
            Assert.Equal(before.CreditUpdatesReceived + 1, after.CreditUpdatesReceived);
    }

    /// <summary>Drives a fresh connection into <paramref name="state"/> through real packets.</summary>
    private static GuestSim Reach(ConnState state)
    {
        GuestSim g;
        switch (state)
        {
            case ConnState.Connecting:
                g = GuestSim.Connecting();
                Assert.Equal(VirtioVsockOp.Request, g.Receive()!.Op);
                break;
            case ConnState.Accepting:
                g = GuestSim.Accepting();
                break;
            case ConnState.Established:
                g = GuestSim.Established();
                break;
            case ConnState.Closing:
                // The host hangs up and has nothing more: we send SHUTDOWN(RCV|SEND) and wait for the guest's RST.
                g = GuestSim.Established();
                g.AnswerFullShutdownWithRst = false;
                g.Host.Eof = true;
                g.Conn.OnHostHangup(g.Now);
                Received? rcv = g.Receive(); // at once: the host takes no more
                Assert.Equal(VirtioVsockOp.Shutdown, rcv!.Op);
                Assert.Equal((uint)VirtioVsockShutdown.Rcv, rcv.Header.Flags);
                Received? all = g.Receive(); // after the drain found EOF
                Assert.Equal(VirtioVsockOp.Shutdown, all!.Op);
                Assert.Equal(RcvSend, all.Header.Flags);
                Assert.Equal(ConnState.Closing, g.Conn.State);
                break;
            case ConnState.Resetting:
                g = GuestSim.Established();
                g.Send(VirtioVsockOp.Response); // unexpected: reset
                g.Conn.OnGuestPacket(g.Header(VirtioVsockOp.Request), default, g.Now); // ignored from here on
                break;
            default:
                g = GuestSim.Established();
                g.Send(VirtioVsockOp.Rst);
                break;
        }

        Assert.Equal(state, g.Conn.State);
        return g;
    }

    [Fact]
    public void Response_on_host_initiated_connect_establishes_and_reports_the_outcome()
    {
        using GuestSim g = GuestSim.Connecting();
        Assert.Equal(ConnectOutcome.Pending, g.Conn.ConnectOutcome);
        Assert.False(g.Conn.WantsHostRead); // nothing may reach the guest before it accepted
        Received req = g.Receive()!;
        Assert.Equal(VirtioVsockOp.Request, req.Op);
        Assert.Equal(ConnectionLimits.Default.BufAlloc, req.Header.BufAlloc);
        g.Send(VirtioVsockOp.Response);
        Assert.Equal(ConnectOutcome.Established, g.Conn.ConnectOutcome);
        Assert.Equal(long.MaxValue, g.Conn.DeadlineMs);
        Assert.True(g.Conn.WantsHostRead);
    }

    [Fact]
    public void Rst_answering_a_host_initiated_connect_is_a_refusal()
    {
        using GuestSim g = GuestSim.Connecting();
        g.Receive();
        g.Send(VirtioVsockOp.Rst);
        Assert.Equal(ConnectOutcome.Refused, g.Conn.ConnectOutcome);
        Assert.Equal(EndReason.Refused, g.Conn.EndReason);
        Assert.True(g.Conn.IsDone);
        Assert.True(g.Host.Closed);
    }

    [Fact]
    public void Connect_timeout_sends_rst_and_reports_timed_out()
    {
        var limits = new ConnectionLimits { ConnectTimeoutMs = 300 };
        using GuestSim g = GuestSim.Connecting(limits);
        g.Receive();
        Assert.Equal(g.Now + 300, g.Conn.DeadlineMs);
        g.Conn.OnTimer(g.Now + 299);
        Assert.Equal(ConnState.Connecting, g.Conn.State);
        g.Conn.OnTimer(g.Now + 300);
        Assert.Equal(ConnectOutcome.TimedOut, g.Conn.ConnectOutcome);
        Assert.Equal(1ul, g.Conn.Counters.ConnectTimeouts);
        Assert.True(g.Host.Closed);
        Assert.Equal(VirtioVsockOp.Rst, g.Receive()!.Op);
        Assert.True(g.Conn.IsDone);
    }

    [Fact]
    public void Connect_timeout_before_the_request_was_even_sent_ends_without_rst()
    {
        // The guest never posted an rx buffer: it never heard of us, so an RST would be noise.
        var limits = new ConnectionLimits { ConnectTimeoutMs = 10 };
        using GuestSim g = GuestSim.Connecting(limits);
        g.Conn.OnTimer(g.Now + 10);
        Assert.Equal(ConnectOutcome.TimedOut, g.Conn.ConnectOutcome);
        Assert.True(g.Conn.IsDone);
        Assert.False(g.Conn.HasPendingRx);
        Assert.True(g.Host.Closed);
    }

    [Fact]
    public void Request_on_an_existing_connection_resets_it_and_counts()
    {
        using GuestSim g = GuestSim.Established();
        g.SendData(new byte[] { 9 });
        g.Send(VirtioVsockOp.Request);
        Assert.Equal(1ul, g.Conn.Counters.DuplicateRequests);
        Assert.Equal(EndReason.DuplicateRequest, g.Conn.EndReason);
        Assert.Equal(VirtioVsockOp.Rst, g.Receive()!.Op);
        Assert.True(g.Conn.IsDone);
    }

    [Theory]
    [InlineData((ushort)VirtioVsockType.Seqpacket, (ushort)VirtioVsockOp.Request, 0u, EndReason.UnsupportedType)] // seqpacket over a host stream that keeps no message boundaries
    [InlineData((ushort)VirtioVsockType.Stream, (ushort)VirtioVsockOp.Request, 1u, EndReason.Malformed)]         // REQUEST with flags
    [InlineData((ushort)VirtioVsockType.Stream, (ushort)VirtioVsockOp.Rw, 0u, EndReason.UnexpectedOp)]           // not a REQUEST at all
    public void A_bad_request_gives_a_connection_that_only_owes_rst(ushort type, ushort op, uint flags, EndReason reason)
    {
        var host = new FakeHostStream();
        var request = new PacketHeader(3, 2, 50000, 1024, 0, type, op, flags, 4096, 0);
        Connection c = Connection.AcceptFromGuest(GuestSim.Key, request, host, ConnectionLimits.Default, 0);
        Assert.Equal(ConnState.Resetting, c.State);
        Assert.Equal(reason, c.EndReason);
        Assert.Equal(ConnectOutcome.Refused, c.ConnectOutcome);
        Assert.Equal(PendingReply.Rst, c.Pending);
        Assert.True(host.Closed);
    }
}
