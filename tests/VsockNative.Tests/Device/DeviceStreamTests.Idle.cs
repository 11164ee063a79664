using System.Collections.Generic;
using System.Net.Sockets;
using System.Text;
using VsockNative.Wire;
using Xunit;

namespace VsockNative.Tests.Device;

// An idle device makes no wake-ups: with connections open and nothing happening, no deadline is
// armed, so the loop sleeps in epoll_wait(-1) until an fd, a kick or a control call wakes it.
public sealed partial class DeviceStreamTests
{
    [Fact]
    public void An_idle_device_with_open_connections_has_no_deadline_to_wake_for()
    {
        using var listener = ListenAt1234();
        var hosts = new List<Socket>();
        for (uint port = 6000; port < 6004; port++) hosts.Add(ConnectFromGuest(listener, port, out _));
        // a host-initiated one too: its connect timeout is armed until the guest answers, then gone
        Assert.NotEqual(long.MaxValue, NextDeadlineAfterHostConnect(out var client));
        Send(VirtioVsockOp.Rw, 6000, 1234, Encoding.ASCII.GetBytes("x"));
        var got = new byte[1];
        Assert.Equal(1, hosts[0].Receive(got));
        Poll();
        Assert.Equal(long.MaxValue, _device.NextDeadlineMs);
        foreach (var h in hosts) h.Dispose();
        client.Dispose();
    }

    /// <summary>A host program connects into the guest (hybrid CONNECT) and the guest accepts: while the
    /// REQUEST is unanswered the connect timeout is armed; once accepted it must be disarmed.</summary>
    private long NextDeadlineAfterHostConnect(out Socket client)
    {
        client = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        client.Connect(new UnixDomainSocketEndPoint(System.IO.Path.Combine(_dir, "vm.vsock")));
        client.Send(Encoding.ASCII.GetBytes("CONNECT 7000\n"));
        var request = new VirtioVsockHdr(Expect(VirtioVsockOp.Request));
        long armed = _device.NextDeadlineMs;
        Send(VirtioVsockOp.Response, 7000, request.SrcPort);
        Poll();
        return armed;
    }
}
