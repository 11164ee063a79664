using System.Collections.Generic;
using VsockNative.Endpoints;
using VsockNative.EventLoop;
using VsockNative.Interop;
using VsockNative.Protocol;

namespace VsockNative.Connections;

// The fd-level API for programs that embed the device: listen on a host port (a guest connection
// arrives as a new fd), connect to a guest port (returns an fd at once). Each connection is a
// socketpair: the device keeps one end as the connection's host stream, the program gets the other.
internal sealed partial class Muxer
{
    private readonly Dictionary<uint, FdListener> _fdListeners = new();

    /// <summary>Guest connections to <paramref name="port"/> go to <paramref name="listener"/> (it takes
    /// precedence over the hybrid socket). False when the port already has a listener.</summary>
    public bool Listen(uint port, FdListener listener) => _fdListeners.TryAdd(port, listener);

    public bool Unlisten(uint port) => _fdListeners.Remove(port);

    /// <summary>Guest REQUEST to a port with an fd listener: a socketpair, one end handed over.</summary>
    private bool TryAcceptOnFdListener(ConnKey key, in PacketHeader h, long nowMs)
    {
        if (!_fdListeners.TryGetValue(h.DstPort, out var listener)) return false;
        int rc = SocketCalls.Pair(SocketCalls.SOCK_STREAM, out int mine, out int theirs);
        if (rc < 0)
        {
            _log.Error($"guest port {h.SrcPort} -> host port {h.DstPort}: socketpair failed (errno {-rc}); RST");
            QueueReset(h);
            return true;
        }
        var stream = new FdStream(mine, _poll);
        Add(Connection.AcceptFromGuest(key, h, stream, _options.Limits, nowMs), stream, hostInitiated: false, nowMs);
        Defer(DeferredCall.Accept(listener, h.DstPort, h.SrcPort, theirs));  // called outside the device lock
        return true;
    }

    /// <summary>Opens a connection to a guest port over a new socketpair; the program's end is returned.</summary>
    public int ConnectFd(uint guestPort, long nowMs, out int fd)
    {
        fd = -1;
        int rc = SocketCalls.Pair(SocketCalls.SOCK_STREAM, out int mine, out int theirs);
        if (rc < 0) return rc;
        var stream = new FdStream(mine, _poll);
        if (!ConnectToGuest(guestPort, stream, nowMs, out _, greet: false))
        {
            stream.Close();
            Libc.Close(theirs);
            return -Errno.EAGAIN;
        }
        fd = theirs;
        return 0;
    }
}

/// <summary>Called on the device's event loop, outside the device's lock (it may call any vsn_
/// function, on any device), when the guest connects to a port the program listens on: <c>fd</c> is
/// the program's end of the new connection (non-blocking, close-on-exec; the program owns it).
/// <c>port</c> is the host port, <c>guest_port</c> the guest's.</summary>
[CCallback("vsn_accept_fn", "user", "port", "guest_port", "fd")]
internal unsafe struct AcceptCallback
{
    public delegate* unmanaged<void*, uint, uint, int, void> Fn;
}

/// <summary>A program's listener: its callback and the pointer passed to it.</summary>
internal readonly record struct FdListener(AcceptCallback Callback, nint User);
