using System;
using VsockNative.Connections;
using VsockNative.Interop;
using VsockNative.Wire;

namespace VsockNative.Device;

// Sibling routing (see Connections/Muxer.Route.cs and Protocol/BEHAVIOUR.md, "Sibling routing").
internal sealed partial class VsockDevice
{
    /// <summary>Installs (or with a null fn removes) the router for guest REQUESTs to other CIDs.</summary>
    public int SetRouter(ISiblingRouter? router, out string error)
    {
        lock (_gate)
        {
            error = "";
            _muxer.Router = router;
            return 0;
        }
    }

    /// <summary>Opens a connection to a guest port whose peer is a sibling's (cid, port), over fd.</summary>
    public int ConnectFrom(uint guestPort, uint type, ulong srcCid, uint srcPort, int fd, out string error)
    {
        lock (_gate)
        {
            if (type is not ((uint)VirtioVsockType.Stream or (uint)VirtioVsockType.Seqpacket))
                return Fail(out error, -Errno.ENOTSUP, $"type {type}: only stream (1) and seqpacket (2) connections are routed");
            if (type == (uint)VirtioVsockType.Seqpacket && !_muxer.SeqpacketNegotiated)
                return Fail(out error, -Errno.ENOTSUP, "seqpacket: this guest's driver has not negotiated VIRTIO_VSOCK_F_SEQPACKET");
            if (srcCid <= Muxer.HostCid || srcCid >= uint.MaxValue || srcCid == Options.GuestCid)
                return Fail(out error, -Errno.EINVAL, $"src_cid {srcCid} is reserved or this guest's own CID");
            if (fd < 0) return Fail(out error, -Errno.EBADF, $"fd {fd}");
            if (!_running) return Fail(out error, -Errno.ENOTCONN, "the device is not running (no driver)");
            int rc = _muxer.ConnectFrom(guestPort, (VirtioVsockType)type, srcCid, srcPort, fd, NowMs);
            if (rc < 0)
                return Fail(out error, rc, rc == -Errno.EADDRINUSE
                    ? $"cid {srcCid} port {srcPort} -> guest port {guestPort} is already connected"
                    : rc == -Errno.EPROTOTYPE ? $"fd {fd} is not a {(type == (uint)VirtioVsockType.Seqpacket ? "SOCK_SEQPACKET" : "SOCK_STREAM")} socket"
                    : "connection limit reached");
            error = "";
        }
        Notify(QueueIndex.Rx, out _);  // the REQUEST waits for an rx buffer: let the loop look
        return 0;
    }

    private void RunDeferred(DeferredCall[] calls)
    {
        foreach (var call in calls)
        {
            int rc = call.Invoke();
            if (rc != 0 && Log.Enabled(LogLevel.Info))
                Log.Info($"guest port {call.SrcPort} -> cid {call.DstCid} port {call.DstPort}: the router refused (errno {-rc}); RST");
        }
    }
}
