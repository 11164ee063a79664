using System.Collections.Generic;
using VsockNative.Endpoints;
using VsockNative.EventLoop;
using VsockNative.Interop;
using VsockNative.Protocol;
using VsockNative.Wire;

namespace VsockNative.Connections;

// The fd-level API for programs that embed the device: listen on a host port (a guest connection
// arrives as a new fd), connect to a guest port (returns an fd at once). Each connection is a
// socketpair: the device keeps one end as the connection's host stream, the program gets the other.
internal sealed partial class Muxer
{
    private readonly Dictionary<(uint Port, VirtioVsockType Type), FdListener> _fdListeners = new();

    /// <summary>Guest connections of <paramref name="type"/> to <paramref name="port"/> go to
    /// <paramref name="listener"/> (it takes precedence over "&lt;uds_path&gt;_&lt;port&gt;"). A port
    /// may have one listener per type. False when it already has one for this type.</summary>
    public bool Listen(uint port, VirtioVsockType type, FdListener listener) => _fdListeners.TryAdd((port, type), listener);

    public bool Unlisten(uint port, VirtioVsockType type) => _fdListeners.Remove((port, type));

    /// <summary>Guest REQUEST to a port with an fd listener: a socketpair, one end handed over.</summary>
    private bool TryAcceptOnFdListener(ConnKey key, in PacketHeader h, long nowMs)
    {
        var type = (VirtioVsockType)h.Type;
        if (!_fdListeners.TryGetValue((h.DstPort, type), out var listener)) return false;
        int rc = SocketCalls.Pair(SocketTypeOf(type), out int mine, out int theirs);
        if (rc < 0)
        {
            _log.Error($"guest port {h.SrcPort} -> host port {h.DstPort}: socketpair failed (errno {-rc}); RST");
            QueueReset(h);
            return true;
        }
        var stream = NewStream(mine, type);
        if (type == VirtioVsockType.Seqpacket) RoomForMessages(theirs);
        Add(Connection.AcceptFromGuest(key, h, stream, _options.Limits, nowMs), stream, hostInitiated: false, nowMs);
        Defer(DeferredCall.Accept(listener, h.DstPort, h.SrcPort, theirs));  // called outside the device lock
        return true;
    }

    /// <summary>Opens a connection of <paramref name="type"/> (STREAM or SEQPACKET) to a guest port over
    /// a new socketpair of the matching socket type; the program's end is returned.</summary>
    public int ConnectFd(uint guestPort, VirtioVsockType type, long nowMs, out int fd)
    {
        fd = -1;
        int rc = SocketCalls.Pair(SocketTypeOf(type), out int mine, out int theirs);
        if (rc < 0) return rc;
        var stream = NewStream(mine, type);
        if (type == VirtioVsockType.Seqpacket) RoomForMessages(theirs);
        if (!ConnectToGuest(guestPort, stream, nowMs, out _, greet: false, type))
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
