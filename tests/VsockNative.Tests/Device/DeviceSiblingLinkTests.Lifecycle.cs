using VsockNative.Connections;
using VsockNative.Wire;
using Xunit;

namespace VsockNative.Tests.Device;

// A device reset or destroy on either side of a link: the other guest sees its connection end, never hangs.
public sealed partial class DeviceSiblingLinkTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_device_reset_mid_stream_ends_the_other_guests_connection(bool resetOrigin)
    {
        var (a, b) = Open(_a, _b, 5000);
        const long Total = 64 << 20;
        void Traffic()
        {
            _a.SendStream(a, Total);
            _b.SendStream(b, Total);
        }
        Assert.True(Pump(() => a.Received > 1 << 20 && b.Received > 1 << 20, Traffic));

        var (resetGuest, resetConn, other) = resetOrigin ? (_a, a, b) : (_b, b, a);
        resetGuest.ResetDevice();
        // The guest whose device was reset (same rings: it lived on) gets a RST; the other guest sees the
        // end of the link (SHUTDOWN(RCV|SEND), its RST), and its device frees the connection.
        Assert.True(Pump(() => resetConn.RstReceived && other.Ended && _a.Connections().Length == 0 && _b.Connections().Length == 0,
            Traffic, rounds: 500), $"reset side rst {resetConn.RstReceived}, other ended {other.Ended} (shutdown {other.PeerShutdown})");
        Assert.Equal((uint)(VirtioVsockShutdown.Rcv | VirtioVsockShutdown.Send), other.PeerShutdown);
        AssertClean(a);
        AssertClean(b);
        Assert.Equal(_liveBefore, SiblingLink.Live);

        // The reset device routes again.
        var (a2, b2) = Open(_a, _b, 5000);
        Assert.True(Pump(() => b2.Received == 100_000, () => _a.SendStream(a2, 100_000)));
        AssertClean(b2);
    }

    [Fact]
    public void A_guest_that_withdraws_its_request_before_the_answer_ends_the_target_side_too()
    {
        var c = _a.Connect(4, 5000);
        _a.Pump();  // routed: device 4 took the link and owes its guest the REQUEST
        Assert.Single(_b.Connections());
        _a.Rst(c);  // guest 3 gives up before anyone answered
        _a.Pump();
        // Guest 4 may still accept; it then reads the end at once (SHUTDOWN(RCV|SEND), its RST).
        Assert.True(Pump(() => _b.Connections().Length == 0 && _a.Connections().Length == 0, rounds: 200));
        var accepted = _b.Accept(5000);
        Assert.NotNull(accepted);
        Assert.True(accepted!.Ended);
        Assert.Equal((uint)(VirtioVsockShutdown.Rcv | VirtioVsockShutdown.Send), accepted.PeerShutdown);
        Assert.False(c.RstReceived);  // a withdrawal is never answered
        Assert.Equal(1UL, _a.Device.ConnectionCounters.RoutesRefused);
        Assert.Equal(_liveBefore, SiblingLink.Live);
    }

    [Fact]
    public void Destroying_a_device_mid_stream_ends_its_siblings_connection()
    {
        var c = new SiblingGuest(5, DeviceBufAlloc);
        _ = new TestRouter(_a, c);
        c.Listen(7000);
        var out5 = _a.Connect(5, 7000);
        GuestConn? in5 = null;
        Assert.True(SiblingGuest.PumpUntil(_a, c, () => out5.Established && (in5 ??= c.Accept(7000)) is not null, 200));
        Assert.True(SiblingGuest.PumpUntil(_a, c, () => in5!.Received > 200_000, rounds: 2000, each: () => _a.SendStream(out5, 8 << 20)));

        c.Dispose();  // a frontend gone for good: its device is destroyed while the sibling still sends
        for (int i = 0; i < 500 && !(out5.Ended && _a.Connections().Length == 0); i++)
        {
            _a.SendStream(out5, 8 << 20);
            _a.Pump();
        }
        Assert.True(out5.Ended, $"guest 3's connection to the destroyed device did not end (shutdown {out5.PeerShutdown})");
        Assert.Empty(_a.Connections());
        Assert.Equal(_liveBefore, SiblingLink.Live);
    }
}
