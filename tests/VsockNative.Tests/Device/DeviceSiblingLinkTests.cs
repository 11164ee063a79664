using System;
using System.IO;
using System.Linq;
using VsockNative.Connections;
using VsockNative.Protocol;
using VsockNative.Wire;
using Xunit;

namespace VsockNative.Tests.Device;

/// <summary>Runs alone (no other test class in parallel): the tests count the process's sockets and
/// the links alive in it.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SiblingLinkCollection
{
    public const string Name = "sibling links";
}

/// <summary>
/// VM to VM in one process (Protocol/BEHAVIOUR.md, "Sibling routing"): two devices in manual-poll
/// mode, each with its mock guest, routed to each other by a router that calls ConnectFrom as the
/// daemon does. The connection goes device to device over a link: no socket carries the data.
/// </summary>
[Collection(SiblingLinkCollection.Name)]
public sealed partial class DeviceSiblingLinkTests : IDisposable
{
    private const uint DeviceBufAlloc = 65536;
    private readonly long _liveBefore = SiblingLink.Live;
    private readonly SiblingGuest _a = new(3, DeviceBufAlloc);
    private readonly SiblingGuest _b = new(4, DeviceBufAlloc);

    public DeviceSiblingLinkTests()
    {
        _ = new TestRouter(_a, _b);
        _b.Listen(5000);
        _a.Listen(6000);
    }

    /// <summary>Connects <paramref name="from"/> to <paramref name="to"/>:port; returns both guests' ends
    /// (each direction's pattern starts at its own offset).</summary>
    private (GuestConn Out, GuestConn In) Open(SiblingGuest from, SiblingGuest to, uint port, VirtioVsockType type = VirtioVsockType.Stream)
    {
        var c = from.Connect(to.Cid, port, type);
        GuestConn? accepted = null;
        Assert.True(SiblingGuest.PumpUntil(_a, _b, () => c.Established && (accepted ??= to.Accept(port)) is not null, 200),
            $"not established (refused {c.Refused})");
        accepted!.SendFrom = c.ReceiveFrom = 500_000;
        return (c, accepted);
    }

    private bool Pump(Func<bool> done, Action? each = null, int rounds = 20000) => SiblingGuest.PumpUntil(_a, _b, done, rounds, each);

    /// <summary>Sockets open in this process (the test runs alone).</summary>
    private static int OpenSockets() => Directory.GetFiles("/proc/self/fd").Count(f =>
    {
        try { return new FileInfo(f).LinkTarget?.StartsWith("socket:", StringComparison.Ordinal) == true; }
        catch (IOException) { return false; }
    });

    private static void AssertClean(GuestConn c)
    {
        Assert.Equal(0, c.BadBytes);
        Assert.Equal(0, c.CreditViolations);
        Assert.Equal(0, c.BadFlags);
        Assert.Equal(0, c.DataAfterShutdown);
    }

    [Fact]
    public void Stream_data_goes_device_to_device_both_ways_byte_for_byte_without_a_socket()
    {
        int sockets = OpenSockets();
        var (a, b) = Open(_a, _b, 5000);
        // The routed pair was only the handshake: both of its ends are closed, the link carries the data.
        Assert.Equal(sockets, OpenSockets());
        Assert.Equal(ConnectionInfoFlags.DirectLink, Assert.Single(_a.Connections()).Flags);
        Assert.Equal(ConnectionInfoFlags.DirectLink, Assert.Single(_b.Connections()).Flags);

        const long Total = 6 << 20;
        Assert.True(Pump(() => b.Received == Total && a.Received == Total, () =>
        {
            _a.SendStream(a, Total);
            _b.SendStream(b, Total);
        }), $"a got {a.Received}, b got {b.Received} of {Total}");
        AssertClean(a);
        AssertClean(b);
        Assert.Equal(sockets, OpenSockets());
        Assert.Equal(1UL, _a.Device.ConnectionCounters.RoutesOpened);
        Assert.Equal(1UL, _b.Device.ConnectionCounters.RoutedIn);
    }

    [Fact]
    public void The_origin_guest_gets_response_only_once_the_target_guest_accepted_and_rst_when_it_refuses()
    {
        var c = _a.Connect(4, 5000);
        for (int i = 0; i < 20; i++) _a.Pump();  // the target's guest is not looking
        Assert.False(c.Established || c.Ended);
        Assert.True(Pump(() => c.Established, rounds: 100));

        var refused = _a.Connect(4, 5001);  // guest 4 does not listen there: it answers RST
        Assert.True(Pump(() => refused.Refused, rounds: 100));
        Assert.Equal(1UL, _a.Device.ConnectionCounters.RoutesRefused);
        Assert.Equal(1UL, _a.Device.ConnectionCounters.RoutesOpened);
        Assert.Single(_a.Connections());
    }

    [Fact]
    public void A_guest_that_stops_reading_stalls_its_peer_on_credit_then_everything_arrives()
    {
        var (a, b) = Open(_a, _b, 5000);
        b.Reading = false;
        const long Asked = 16 << 20;
        for (int i = 0; i < 300; i++)
        {
            _a.SendStream(a, Asked);
            _a.Pump();
            _b.Pump();
        }
        // Credit is end to end: guest 3 gets out at most guest 4's window plus the link (device 3's
        // buf_alloc); nothing else holds bytes on the way (a socketpair would have held its buffers).
        Assert.True(a.Sent <= b.BufAlloc + DeviceBufAlloc, $"guest 3 sent {a.Sent} while guest 4 read nothing");
        Assert.Equal(b.BufAlloc, b.RxCnt - b.FwdCnt);
        Assert.True(Assert.Single(_a.Connections()).BufferedToHost <= DeviceBufAlloc);

        b.Reading = true;
        Assert.True(Pump(() => b.Received == Asked, () => _a.SendStream(a, Asked)), $"b got {b.Received} of {Asked}");
        AssertClean(b);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Shutdown_of_one_direction_reaches_the_other_guest_after_the_data_and_the_close_completes(bool originFirst)
    {
        var (a, b) = Open(_a, _b, 5000);
        var (first, firstConn, second, secondConn) = originFirst ? (_a, a, _b, b) : (_b, b, _a, a);
        const long Total = 300_000;
        Assert.True(Pump(() => secondConn.Received == Total, () => first.SendStream(firstConn, Total)));
        first.Shutdown(firstConn, VirtioVsockShutdown.Send);
        Assert.True(Pump(() => (secondConn.PeerShutdown & (uint)VirtioVsockShutdown.Send) != 0, rounds: 100));
        Assert.Equal(0u, secondConn.PeerShutdown & (uint)VirtioVsockShutdown.Rcv);

        // Half-closed: the other direction still flows.
        Assert.True(Pump(() => firstConn.Received == Total, () => second.SendStream(secondConn, Total)));
        second.Shutdown(secondConn, VirtioVsockShutdown.Send);
        Assert.True(Pump(() => firstConn.Ended && secondConn.Ended && _a.Connections().Length == 0 && _b.Connections().Length == 0, rounds: 200));
        Assert.Equal(Total, firstConn.Received);
        AssertClean(firstConn);
        AssertClean(secondConn);
        Assert.Equal(_liveBefore, SiblingLink.Live);  // freed once both ends let go
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_guest_rst_ends_the_other_guests_connection(bool originResets)
    {
        var (a, b) = Open(_a, _b, 5000);
        Assert.True(Pump(() => b.Received == 100_000 && a.Received == 100_000, () =>
        {
            _a.SendStream(a, 100_000);
            _b.SendStream(b, 100_000);
        }));
        var (resetter, conn, other) = originResets ? (_a, a, b) : (_b, b, a);
        resetter.Rst(conn);
        // The other guest sees the end (SHUTDOWN(RCV|SEND), answered with RST as Linux does) and both
        // devices free their connection.
        Assert.True(Pump(() => other.Ended && _a.Connections().Length == 0 && _b.Connections().Length == 0, rounds: 200));
        Assert.Equal((uint)(VirtioVsockShutdown.Rcv | VirtioVsockShutdown.Send), other.PeerShutdown);
        Assert.Equal(_liveBefore, SiblingLink.Live);
    }

    public void Dispose()
    {
        _a.Dispose();
        _b.Dispose();
    }
}
