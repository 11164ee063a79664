using System.Collections.Generic;
using VsockNative.Endpoints;
using VsockNative.EventLoop;
using VsockNative.Interop;
using VsockNative.Protocol;
using VsockNative.Wire;
using VsockNative.Diagnostics;
using VsockNative.Interop.Native;

namespace VsockNative.Connections;

// The fd-level API for programs that embed the device: listen on a host port (a guest connection
// arrives as a new fd), connect to a guest port (returns an fd at once). Each connection is a
// socketpair: the device keeps one end as the connection's host stream, the program gets the other.
internal sealed partial class Muxer
{
    private readonly Dictionary<(uint Port, VirtioVsockType Type), IFdListener> _fdListeners = new();

    /// <summary>Guest connections of <paramref name="type"/> to <paramref name="port"/> go to
    /// <paramref name="listener"/> (it takes precedence over "&lt;uds_path&gt;_&lt;port&gt;"). A port
    /// may have one listener per type. False when it already has one for this type.</summary>
    public bool Listen(uint port, VirtioVsockType type, IFdListener listener) => _fdListeners.TryAdd((port, type), listener);

    public bool Unlisten(uint port, VirtioVsockType type) => _fdListeners.Remove((port, type));

    /// <summary>The fd-API listeners as (port, type), for a snapshot.</summary>
    public System.Collections.Generic.IEnumerable<(uint, uint)> FdListeners
    {
        get { foreach (var k in _fdListeners.Keys) yield return (k.Port, (uint)k.Type); }
    }

    /// <summary>The allocator of host ports for host-initiated connections (a snapshot saves where it is).</summary>
    public HostPortAllocator HostPorts => _ports;

    /// <summary>Guest REQUEST to a port with an fd listener: a socketpair, one end handed over.</summary>
    private bool TryAcceptOnFdListener(ConnKey key, in PacketHeader h, long nowMs)
    {
        var type = (VirtioVsockType)h.Type;
        if (!_fdListeners.TryGetValue((h.DstPort, type), out var listener)) return false;
        int rc = SocketCalls.Pair(SocketTypeOf(type), out int mine, out int theirs);
        if (rc < 0)
        {
            if (Errno.IsResourceShortage(-rc)) _resources.RefusedNoResources++;
            _log.Error($"guest port {h.SrcPort} -> host port {h.DstPort}: socketpair failed (errno {-rc}); RST");
            QueueReset(h);
            return true;
        }
        var stream = NewStream(mine, type);
        if (type == VirtioVsockType.Seqpacket) RoomForMessages(theirs);
        Add(Accepted(key, h, stream, nowMs), stream, hostInitiated: false, nowMs);
        Defer(DeferredCall.Accept(listener, h.DstPort, h.SrcPort, theirs, _spareCalls));  // called outside the device lock
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

/// <summary>A program's listener (handed down by the interop layer): it receives the program's end of
/// each accepted guest connection, on the event loop outside the device's lock.</summary>
internal interface IFdListener
{
    void Accept(uint port, uint guestPort, int fd);
}
