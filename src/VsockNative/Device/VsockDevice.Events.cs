using System;
using VsockNative.Connections;
using VsockNative.Interop;
using VsockNative.Virtqueue;
using VsockNative.Wire;

namespace VsockNative.Device;

// The event queue (TRANSPORT_RESET) and the fd-level connection API.
internal sealed partial class VsockDevice
{
    private bool _transportResetPending;

    /// <summary>Sends VIRTIO_VSOCK_EVENT_TRANSPORT_RESET (before a snapshot or migration): every
    /// connection is dropped on the host side now, and the guest's driver resets its sockets when it
    /// reads the event. With no event buffer posted, the event waits for one.</summary>
    public int TransportReset(out string error)
    {
        lock (_gate)
        {
            error = "";
            _muxer.DropConnections(tellGuest: false);  // the event tells the guest
            _dgram.DropTraffic();
            _transportResetPending = true;
            _counters.TransportResets++;
            Log.Info("TRANSPORT_RESET: all connections dropped; event queued for the driver");
            if (_running && _q[QueueIndex.Event].Configured) ProcessEvent();
            return 0;
        }
    }

    /// <summary>Writes a pending event into the next event buffer (the event queue's own chain).</summary>
    private void ProcessEvent()
    {
        var q = _q[QueueIndex.Event];
        if (!_transportResetPending || !q.Configured) return;
        while (q.PopNext(Log))
        {
            if (q.Chain.ReadableCount != 0)
            {
                q.ReturnUnusable(UnusableChain.Readable, Log);
                continue;
            }
            if (q.Chain.WritableLength < VirtioVsockEvent.Size)
            {
                q.ReturnUnusable(UnusableChain.TooSmall, Log);
                continue;
            }
            Span<byte> ev = stackalloc byte[VirtioVsockEvent.Size];
            new VirtioVsockEvent(ev).Id = (uint)VirtioVsockEventId.TransportReset;
            ScatterIo.Scatter(q.Chain.Writable, 0, ev);
            q.Ring.PushUsed(q.Chain.HeadIndex, VirtioVsockEvent.Size);
            _transportResetPending = false;
            break;
        }
        CheckFault(q);
        PublishAndInterrupt(QueueIndex.Event);
    }

    /// <summary>Guest connections of a type (STREAM or SEQPACKET) to a host port go to a program's
    /// callback as new fds (SOCK_STREAM or SOCK_SEQPACKET socketpair ends).</summary>
    public int Listen(uint port, uint type, FdListener listener, out string error)
    {
        lock (_gate)
        {
            if (type == (uint)VirtioVsockType.Dgram) return ListenDatagrams(port, listener, out error);
            if (!ConnectionType(type, out error)) return -Errno.ENOTSUP;
            return _muxer.Listen(port, (VirtioVsockType)type, listener) ? 0 : Fail(out error, -Errno.EEXIST, $"port {port} already has a listener of type {type}");
        }
    }

    public int Unlisten(uint port, uint type, out string error)
    {
        lock (_gate)
        {
            error = "";
            if (type == (uint)VirtioVsockType.Dgram) return UnlistenDatagrams(port, out error);
            return _muxer.Unlisten(port, (VirtioVsockType)type) ? 0 : Fail(out error, -Errno.ENOENT, $"port {port} has no listener of type {type}");
        }
    }

    /// <summary>Connection types the fd API serves: STREAM (1) and SEQPACKET (2); DGRAM (3) is handled apart.</summary>
    private static bool ConnectionType(uint type, out string error)
    {
        error = type is (uint)VirtioVsockType.Stream or (uint)VirtioVsockType.Seqpacket
            ? "" : $"type {type}: only stream (1) and seqpacket (2) connections exist";
        return error.Length == 0;
    }

    /// <summary>Opens a connection to a guest port; the program gets its end of a socketpair at once
    /// (the REQUEST goes out on the event loop; a refusal shows as end of stream on the fd).</summary>
    public int Connect(uint guestPort, uint type, out int fd, out string error)
    {
        fd = -1;
        lock (_gate)
        {
            if (type == (uint)VirtioVsockType.Dgram)
            {
                int drc = ConnectDatagrams(guestPort, out fd, out error);
                if (drc < 0) return drc;
                return 0;
            }
            if (!ConnectionType(type, out error)) return -Errno.ENOTSUP;
            if (type == (uint)VirtioVsockType.Seqpacket && !_muxer.SeqpacketNegotiated)
                return Fail(out error, -Errno.ENOTSUP, "seqpacket: the driver has not negotiated VIRTIO_VSOCK_F_SEQPACKET");
            int rc = _muxer.ConnectFd(guestPort, (VirtioVsockType)type, NowMs, out fd);
            if (rc < 0) return Fail(out error, rc, $"cannot open a connection to guest port {guestPort} (errno {-rc})");
            error = "";
        }
        Notify(QueueIndex.Rx, out _);  // the REQUEST waits for an rx buffer: let the loop look
        return 0;
    }
}
