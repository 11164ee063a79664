using System;
using VsockNative.Connections;
using VsockNative.Interop;
using VsockNative.Protocol;
using VsockNative.Virtqueue;
using VsockNative.Wire;

namespace VsockNative.Device;

// The device's side of the datagram layer: which queues carry datagrams (the shared rx/tx queues of
// the 2023 proposal, or the datagram queues of the 2021 layout), routing type-DGRAM tx packets to
// the router, and giving it rx buffers.
internal sealed partial class VsockDevice
{
    private DatagramRouter _dgram = null!;
    /// <summary>Five queues: separate datagram layout configured and VIRTIO_VSOCK_F_DGRAM negotiated.</summary>
    private volatile bool _fiveQueues;
    /// <summary>On the shared rx queue: the next free buffer goes to a datagram (turns alternate).</summary>
    private bool _dgramTurn;

    private void InitDatagrams()
    {
        _dgram = new DatagramRouter(Options.GuestCid, new DatagramOptions
        {
            UdsPath = (Options.OfferedFeatures & VirtioVsockFeatures.Dgram) != 0 ? Options.UdsPath : null,
            MaxSockets = (int)Math.Min(Options.MaxDgramSockets, int.MaxValue),
        }, this, Log, MaxSegments);
        _dgram.DeferCall = call => _muxer.Defer(call);  // vsn_accept_fn outside the lock, as for streams
    }

    public DatagramCounters DatagramCounters
    {
        get { lock (_gate) return _dgram.Counters; }
    }

    /// <summary>Called under the lock when the driver's features are recorded.</summary>
    private void OnFeaturesSet(ulong features)
    {
        bool dgram = (features & VirtioVsockFeatures.Dgram) != 0;
        _dgram.Enabled = dgram;
        _fiveQueues = dgram && Options.DgramLayout == DgramLayout.Separate;
        for (uint slot = 0; slot < QueueSlot.Count; slot++) _q[slot].Notifier.Index = QueueSlot.IndexOf(slot, _fiveQueues);
    }

    private int OpenDatagramEndpoints() => _dgram.OpenEndpoints();

    private void ResetDatagrams()
    {
        _dgram.DropTraffic();
        _dgram.Enabled = false;
        _fiveQueues = false;
        for (uint slot = 0; slot < QueueSlot.Count; slot++) _q[slot].Notifier.Index = slot;
    }

    /// <summary>Sends a tx packet of type DGRAM to the router (true), or tells the router another packet
    /// passed on its queue (false: the muxer takes it). Queue rules of the five-queue layout: datagrams
    /// only on the datagram tx queue, other packets only on the stream tx queue.</summary>
    private bool RouteDatagram(in PacketHeader h, ReadOnlySpan<IoVec> payload, uint slot)
    {
        bool isDgram = h.Type == (ushort)VirtioVsockType.Dgram;
        if (!_fiveQueues)
        {
            if (isDgram) _dgram.OnGuestPacket(h, payload, NowMs);
            else _dgram.OnOtherPacket();
            return isDgram;
        }
        if (slot == QueueSlot.DgramTx)
        {
            if (isDgram) _dgram.OnGuestPacket(h, payload, NowMs);
            else
            {
                _counters.TxMalformed++;
                if (Log.Enabled(LogLevel.Warn)) Log.Warn($"type {h.Type} packet on the datagram tx queue dropped: {h}");
            }
            return true;
        }
        if (isDgram) _dgram.OnWrongQueue(h);
        return isDgram;
    }

    /// <summary>Datagram packets wait for buffers of the shared rx queue.</summary>
    private bool SharedDatagramsPending => !_fiveQueues && _dgram.HasPendingRx;

    /// <summary>One buffer of the shared rx queue: a half-written datagram keeps it (no interleaving,
    /// as the proposal requires); otherwise datagrams and the muxer take turns.</summary>
    private uint FillSharedRx(ReadOnlySpan<IoVec> rx, long nowMs)
    {
        if (_fiveQueues) return _muxer.FillRx(rx, nowMs);
        if (_dgram.MustContinue) return _dgram.FillRx(rx);
        if (_dgram.HasPendingRx && (_dgramTurn || !_muxer.HasPendingRx))
        {
            _dgramTurn = false;
            uint w = _dgram.FillRx(rx);
            if (w > 0) return w;
        }
        _dgramTurn = true;
        uint written = _muxer.FillRx(rx, nowMs);
        return written > 0 || !_dgram.HasPendingRx ? written : _dgram.FillRx(rx);
    }

    /// <summary>Five-queue layout: fills datagram rx buffers while the router has packets.</summary>
    private void ProcessDgramRx()
    {
        if (_fiveQueues && _q[QueueSlot.DgramRx].Configured && _dgram.HasPendingRx)
            FillRxQueue(QueueSlot.DgramRx);
    }

    /// <summary>vsn_listen / vsn_unlisten / vsn_connect with type DGRAM.</summary>
    private int ListenDatagrams(uint port, FdListener listener, out string error)
    {
        error = "";
        if ((Options.OfferedFeatures & VirtioVsockFeatures.Dgram) == 0)
            return Fail(out error, -Errno.ENOTSUP, "datagrams: VIRTIO_VSOCK_F_DGRAM is not offered by this device");
        return _dgram.Listen(port, listener) ? 0 : Fail(out error, -Errno.EEXIST, $"port {port} already has a datagram listener or binding");
    }

    private int UnlistenDatagrams(uint port, out string error)
    {
        error = "";
        return _dgram.Unlisten(port) ? 0 : Fail(out error, -Errno.ENOENT, $"port {port} has no datagram listener");
    }

    private int ConnectDatagrams(uint guestPort, out int fd, out string error)
    {
        fd = -1;
        error = "";
        if ((Options.OfferedFeatures & VirtioVsockFeatures.Dgram) == 0)
            return Fail(out error, -Errno.ENOTSUP, "datagrams: VIRTIO_VSOCK_F_DGRAM is not offered by this device");
        int rc = _dgram.ConnectFd(guestPort, NowMs, out fd);
        return rc < 0 ? Fail(out error, rc, $"cannot bind a datagram socket to guest port {guestPort}: {_dgram.EndpointCount} datagram sockets open (errno {-rc})") : 0;
    }
}
