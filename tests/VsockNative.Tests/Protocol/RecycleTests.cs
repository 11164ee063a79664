using System;
using VsockNative.Protocol;
using VsockNative.Wire;
using Xunit;

namespace VsockNative.Tests.Protocol;

/// <summary>A connection that is done can be made new for the next one (the muxer keeps spares so
/// opening a connection allocates nothing): nothing of its previous life may reach the next
/// connection, so a recycled connection must equal a new one field by field.</summary>
public class RecycleTests
{
    private static readonly ConnKey NextKey = new(HostCid: 2, HostPort: 1234, GuestCid: 3, GuestPort: 40000);
    private const uint Eom = (uint)VirtioVsockRw.Eom;

    /// <summary>A seqpacket connection that leaves as much behind as it can: messages queued for a
    /// blocked host (the tx ring rented, the message queue grown), a partial guest message, the rest of
    /// a host message waiting for rx buffers, counters and credit moved; then the guest resets it.</summary>
    private static Connection UsedAndDone(GuestSim g)
    {
        g.Messages.Blocked = true;
        for (int i = 0; i < 20; i++) g.SendPiece(TestPattern.ToArray(i, 100), Eom);  // 20 > the queue's first 16 records
        g.SendPiece(TestPattern.ToArray(0, 500), 0);
        g.Messages.Inbound.Enqueue((TestPattern.ToArray(0, 6000), true));
        g.Conn.OnHostReadable(g.Now);
        Assert.NotNull(g.Receive(1000 + VirtioVsockHdr.Size));
        Assert.True(g.Conn.HoldsH2gArray && g.Conn.HoldsTxArray, "the connection holds its buffers before the reset");
        g.Send(VirtioVsockOp.Rst);
        Assert.True(g.Conn.IsDone);
        return g.Conn;
    }

    private static PacketHeader Request(VirtioVsockType type) =>
        new(NextKey.GuestCid, NextKey.HostCid, NextKey.GuestPort, NextKey.HostPort, 0, (ushort)type,
            (ushort)VirtioVsockOp.Request, 0, 32768, 77);

    [Theory]
    [InlineData(VirtioVsockType.Stream)]
    [InlineData(VirtioVsockType.Seqpacket)]
    public void A_recycled_guest_initiated_connection_is_field_by_field_a_new_one(VirtioVsockType type)
    {
        using GuestSim g = GuestSim.Seqpacket();
        Connection old = UsedAndDone(g);
        var limits = new ConnectionLimits { BufAlloc = 8192, ConnectTimeoutMs = 700 };  // not the old connection's
        var host = new FakeHostMessages();
        var request = Request(type);
        var recycled = Connection.AcceptFromGuest(NextKey, request, host, limits, 5000, 0, old);
        var fresh = Connection.AcceptFromGuest(NextKey, request, host, limits, 5000, 0);
        Assert.Same(old, recycled);
        FieldByField.AssertSame(fresh, recycled);
        Assert.False(recycled.HoldsTxArray || recycled.HoldsH2gArray);
        Assert.Equal(1ul, recycled.Counters.PacketsFromGuest);  // its REQUEST only
    }

    [Fact]
    public void A_recycled_host_initiated_connection_is_field_by_field_a_new_one()
    {
        using GuestSim g = GuestSim.Seqpacket();
        Connection old = UsedAndDone(g);
        var host = new FakeHostMessages();
        var recycled = Connection.ConnectToGuest(NextKey, host, ConnectionLimits.Default, 9000, 0, VirtioVsockType.Seqpacket, old);
        var fresh = Connection.ConnectToGuest(NextKey, host, ConnectionLimits.Default, 9000, 0, VirtioVsockType.Seqpacket);
        FieldByField.AssertSame(fresh, recycled);
        Assert.Equal(PendingReply.Request, recycled.Pending);
    }

    [Fact]
    public void A_connection_that_is_not_done_is_never_recycled()
    {
        using GuestSim g = GuestSim.Established();
        Assert.Throws<InvalidOperationException>(() =>
            Connection.AcceptFromGuest(NextKey, Request(VirtioVsockType.Stream), new FakeHostStream(), ConnectionLimits.Default, 0, 0, g.Conn));
        Assert.Equal(ConnState.Established, g.Conn.State);
    }
}
