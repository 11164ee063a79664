using VsockNative.Endpoints;
using VsockNative.EventLoop;
using VsockNative.Interop;
using VsockNative.Diagnostics;
using VsockNative.Interop.Native;

namespace VsockNative.Connections;

// The fd-level datagram API: vsn_device_listen(P, DGRAM) and vsn_device_connect(G, DGRAM) over SOCK_DGRAM
// socketpairs (the device keeps one end, the program gets the other).
internal sealed partial class DatagramRouter
{
    /// <summary>Where calls into the program go to be made outside the device lock (the device sets it
    /// to its muxer's queue); null: made at once (a router used on its own, as in unit tests).</summary>
    public System.Action<DeferredCall>? DeferCall { get; set; }

    /// <summary>Guest datagrams to host port <paramref name="port"/> go to the listener's fd (created
    /// at the first one). False when the port already has a datagram listener or binding.</summary>
    public bool Listen(uint port, IFdListener listener) =>
        !_hostPorts.ContainsKey(port) && _listeners.TryAdd(port, listener);

    /// <summary>The ports with a datagram fd listener, for a snapshot.</summary>
    public System.Collections.Generic.IEnumerable<uint> FdListeners => _listeners.Keys;

    /// <summary>The allocator of host ports for datagram bindings (a snapshot saves where it is).</summary>
    public HostPortAllocator HostPorts => _ports;

    /// <summary>Stops listening; the device's end of an fd already handed out is closed.</summary>
    public bool Unlisten(uint port)
    {
        if (!_listeners.Remove(port)) return false;
        if (_hostPorts.TryGetValue(port, out var e) && e.Kind == Kind.Listen) Close(e);
        return true;
    }

    /// <summary>First guest datagram to a listened port: a socketpair, the program's end to its callback.</summary>
    private Endpoint? AcceptOnListener(uint hostPort, uint guestPort, IFdListener listener, long nowMs)
    {
        if (OwnedSockets >= _options.MaxSockets)
        {
            _counters.SocketsRefused++;
            _log.Warn($"datagram listener on port {hostPort}: {_options.MaxSockets} datagram sockets already open; datagram dropped");
            return new Endpoint();  // Fd -1: dropped, counted
        }
        int rc = SocketCalls.Pair(SocketCalls.SOCK_DGRAM, out int mine, out int theirs);
        if (rc < 0)
        {
            _counters.DroppedHostError++;
            _log.Error($"datagram listener on port {hostPort}: socketpair failed (errno {-rc}); datagram dropped");
            return new Endpoint();
        }
        var e = Register(mine, Kind.Listen, 0, hostPort, nowMs);
        var call = DeferredCall.Accept(listener, hostPort, guestPort, theirs);
        if (DeferCall is { } defer) defer(call);  // the device calls it after releasing its lock
        else call.Invoke();
        return e;
    }

    /// <summary>A datagram socketpair bound to (a new host port, <paramref name="guestPort"/>): what the
    /// program writes goes to the guest port whole; what the guest port sends to that host port comes back.</summary>
    public int ConnectFd(uint guestPort, long nowMs, out int fd)
    {
        fd = -1;
        if (OwnedSockets >= _options.MaxSockets)
        {
            _counters.SocketsRefused++;
            return -Errno.EAGAIN;
        }
        if (!_ports.TryAllocate(p => _hostPorts.ContainsKey(p) || _listeners.ContainsKey(p), out uint hostPort)) return -Errno.EAGAIN;
        int rc = SocketCalls.Pair(SocketCalls.SOCK_DGRAM, out int mine, out int theirs);
        if (rc < 0) return rc;
        Register(mine, Kind.Connected, guestPort, hostPort, nowMs);
        fd = theirs;
        return 0;
    }
}
