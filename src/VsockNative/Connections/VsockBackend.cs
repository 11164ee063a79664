using System;
using VsockNative.EventLoop;
using VsockNative.Interop;
using VsockNative.Protocol;
using VsockNative.Wire;
using VsockNative.Diagnostics;

namespace VsockNative.Connections;

/// <summary>What the backend of a device needs to know at creation.</summary>
internal sealed class BackendOptions
{
    public ulong GuestCid { get; init; }
    public string? UdsPath { get; init; }
    public bool RouteHost { get; init; }
    public uint BufAlloc { get; init; }
    public int MaxConnections { get; init; }
    public bool DatagramsOffered { get; init; }
    public int MaxDatagramSockets { get; init; }
    public int MaxSegments { get; init; }
}

/// <summary>
/// The device's backend: the muxer (stream and seqpacket connections, the hybrid Unix socket,
/// sibling routes) and the datagram router, and the rules between them: which queue carries what
/// (the shared layout of the 2023 datagram proposal, or the separate queues of 2021), and on the
/// shared rx queue datagrams and connections taking turns without interleaving a datagram's fragments.
/// </summary>
internal sealed class VsockBackend : IVsockBackend
{
    private readonly Muxer _muxer;
    private readonly DatagramRouter _dgram;
    private readonly BackendOptions _options;
    private readonly Logger _log;
    /// <summary>Datagrams on their own queues (separate layout with VIRTIO_VSOCK_F_DGRAM negotiated).</summary>
    private bool _separate;
    /// <summary>On the shared rx queue: the next free buffer goes to a datagram (turns alternate).</summary>
    private bool _dgramTurn;

    public VsockBackend(BackendOptions options, IPollRegistry poll, Logger log)
    {
        _options = options;
        _log = log;
        _muxer = new Muxer(options.GuestCid, new MuxerOptions
        {
            UdsPath = options.UdsPath,
            RouteHost = options.RouteHost,
            MaxConnections = options.MaxConnections,
            Limits = new ConnectionLimits { BufAlloc = options.BufAlloc },
        }, poll, log);
        _dgram = new DatagramRouter(options.GuestCid, new DatagramOptions
        {
            UdsPath = options.DatagramsOffered ? options.UdsPath : null,
            MaxSockets = options.MaxDatagramSockets,
        }, poll, log, options.MaxSegments);
        _dgram.DeferCall = call => _muxer.Defer(call);  // vsn_accept_fn outside the lock, as for streams
    }

    public ISiblingRouter? Router
    {
        get => _muxer.Router;
        set => _muxer.Router = value;
    }

    public MuxerCounters ConnectionCounters => _muxer.Counters;
    public ResourceCounters ResourceCounters => _muxer.ResourceCounters;
    public ConnectionCounters EndedConnectionCounters => _muxer.EndedCounters;
    public DatagramCounters DatagramCounters => _dgram.Counters;
    public int Snapshot(Span<ConnectionInfo> destination) => _muxer.Snapshot(destination);

    public BackendState SaveState()
    {
        var listeners = new System.Collections.Generic.List<(uint, uint)>(_muxer.FdListeners);
        foreach (uint port in _dgram.FdListeners) listeners.Add((port, (uint)VirtioVsockType.Dgram));
        return new BackendState(_muxer.HostPorts.Next, _dgram.HostPorts.Next, listeners.ToArray());
    }

    public bool RestoreState(in BackendState state)
    {
        if (state.StreamPortNext is < Endpoints.HostPortAllocator.First or >= Endpoints.HostPortAllocator.End
            || state.DatagramPortNext is < Endpoints.HostPortAllocator.First or >= Endpoints.HostPortAllocator.End)
            return false;
        return _muxer.HostPorts.TrySetNext(state.StreamPortNext) && _dgram.HostPorts.TrySetNext(state.DatagramPortNext);
    }

    public void OnFeatures(ulong features, bool separateDatagramQueues)
    {
        _muxer.SeqpacketNegotiated = (features & VirtioVsockFeatures.Seqpacket) != 0;
        _dgram.Enabled = (features & VirtioVsockFeatures.Dgram) != 0;
        _separate = separateDatagramQueues;
    }

    public int OpenEndpoints(out string error)
    {
        error = "";
        int rc = _muxer.OpenEndpoints();
        if (rc < 0)
        {
            error = $"cannot listen on uds_path {_options.UdsPath} (errno {-rc})";
            return rc;
        }
        rc = _dgram.OpenEndpoints();
        if (rc < 0) error = $"cannot bind {_options.UdsPath}_dgram (errno {-rc})";
        return rc;
    }

    public void OnStartAfterReset(bool sameDriver) => _muxer.OnStartAfterReset(sameDriver);

    public void DropConnections(bool tellGuest)
    {
        _muxer.DropConnections(tellGuest);
        _dgram.DropTraffic();
    }

    /// <summary>Queue rules: in the separate layout datagrams only on the datagram tx queue (the device
    /// drops anything else found there); in the shared layout the type decides.</summary>
    public void OnGuestPacket(in PacketHeader h, ReadOnlySpan<IoVec> payload, BackendQueue queue, long nowMs)
    {
        bool isDgram = h.Type == (ushort)VirtioVsockType.Dgram;
        if (_separate && queue == BackendQueue.Stream && isDgram)
        {
            _dgram.OnWrongQueue(h);
            return;
        }
        if (isDgram)
        {
            _dgram.OnGuestPacket(h, payload, nowMs);
            return;
        }
        if (!_separate) _dgram.OnOtherPacket();
        _muxer.OnGuestPacket(h, payload, nowMs);
    }

    public bool HasPendingRx(BackendQueue queue) => queue == BackendQueue.Datagram
        ? _dgram.HasPendingRx
        : _muxer.HasPendingRx || (!_separate && _dgram.HasPendingRx);

    /// <summary>One rx buffer. The datagram queue: datagrams. The shared queue: a half-written datagram
    /// keeps it (no interleaving, as the proposal requires); otherwise datagrams and connections take turns.</summary>
    public uint FillRx(BackendQueue queue, ReadOnlySpan<IoVec> rx, long nowMs)
    {
        if (queue == BackendQueue.Datagram) return _dgram.FillRx(rx);
        if (_separate) return _muxer.FillRx(rx, nowMs);
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

    public long NextDeadlineMs => Math.Min(_muxer.NextDeadlineMs, _dgram.NextDeadlineMs);

    public void OnTimer(long nowMs)
    {
        if (_muxer.NextDeadlineMs <= nowMs) _muxer.OnTimer(nowMs);
        if (_dgram.NextDeadlineMs <= nowMs) _dgram.OnTimer(nowMs);
    }

    public void OnSignals(long nowMs) => _muxer.OnSignals(nowMs);

    public void OnFdEvent(ulong tag, uint events, long nowMs)
    {
        if (PollTag.Kind(tag) == PollTag.Datagram) _dgram.OnFdEvent(tag, events, nowMs);
        else _muxer.OnFdEvent(tag, events, nowMs);
    }

    public void TakeDeferred(IDeferredSink into) => _muxer.TakeDeferred(into);

    public void BeforeWait() => _muxer.BeforeWait();

    public int Listen(uint port, VirtioVsockType type, IFdListener listener, out string error)
    {
        if (type == VirtioVsockType.Dgram)
        {
            if (!DatagramsOffered(out error)) return -Errno.ENOTSUP;
            return _dgram.Listen(port, listener) ? 0 : Fail(out error, -Errno.EEXIST, $"port {port} already has a datagram listener or binding");
        }
        if (!ConnectionType(type, out error)) return -Errno.ENOTSUP;
        return _muxer.Listen(port, type, listener) ? 0 : Fail(out error, -Errno.EEXIST, $"port {port} already has a listener of type {(uint)type}");
    }

    public int Unlisten(uint port, VirtioVsockType type, out string error)
    {
        error = "";
        bool removed = type == VirtioVsockType.Dgram ? _dgram.Unlisten(port) : _muxer.Unlisten(port, type);
        return removed ? 0 : Fail(out error, -Errno.ENOENT, $"port {port} has no listener of type {(uint)type}");
    }

    public int Connect(uint guestPort, VirtioVsockType type, long nowMs, out int fd, out string error)
    {
        fd = -1;
        int rc;
        if (type == VirtioVsockType.Dgram)
        {
            if (!DatagramsOffered(out error)) return -Errno.ENOTSUP;
            rc = _dgram.ConnectFd(guestPort, nowMs, out fd);
            return rc < 0 ? Fail(out error, rc, $"cannot bind a datagram socket to guest port {guestPort}: {_dgram.EndpointCount} datagram sockets open") : 0;
        }
        if (!ConnectionType(type, out error)) return -Errno.ENOTSUP;
        if (type == VirtioVsockType.Seqpacket && !_muxer.SeqpacketNegotiated)
            return Fail(out error, -Errno.ENOTSUP, "seqpacket: the driver has not negotiated VIRTIO_VSOCK_F_SEQPACKET");
        rc = _muxer.ConnectFd(guestPort, type, nowMs, out fd);
        return rc < 0 ? Fail(out error, rc, $"cannot open a connection to guest port {guestPort}") : 0;
    }

    public int ConnectFrom(uint guestPort, VirtioVsockType type, ulong srcCid, uint srcPort, int fd, long nowMs, out string error)
    {
        error = "";
        if (type is not (VirtioVsockType.Stream or VirtioVsockType.Seqpacket))
            return Fail(out error, -Errno.ENOTSUP, $"type {(uint)type}: only stream (1) and seqpacket (2) connections are routed");
        if (type == VirtioVsockType.Seqpacket && !_muxer.SeqpacketNegotiated)
            return Fail(out error, -Errno.ENOTSUP, "seqpacket: this guest's driver has not negotiated VIRTIO_VSOCK_F_SEQPACKET");
        if (srcCid <= Muxer.HostCid || srcCid >= uint.MaxValue || srcCid == _options.GuestCid)
            return Fail(out error, -Errno.EINVAL, $"src_cid {srcCid} is reserved or this guest's own CID");
        if (fd < 0) return Fail(out error, -Errno.EBADF, $"fd {fd}");
        int rc = _muxer.ConnectFrom(guestPort, type, srcCid, srcPort, fd, nowMs);
        if (rc >= 0) return 0;
        return Fail(out error, rc, rc switch
        {
            -Errno.EADDRINUSE => $"cid {srcCid} port {srcPort} -> guest port {guestPort} is already connected",
            -Errno.EPROTOTYPE => $"fd {fd} is not a {(type == VirtioVsockType.Seqpacket ? "SOCK_SEQPACKET" : "SOCK_STREAM")} socket",
            -Errno.EAGAIN => "connection limit reached",
            _ => $"fd {fd} cannot be used",
        });
    }

    private bool DatagramsOffered(out string error)
    {
        error = _options.DatagramsOffered ? "" : "datagrams: VIRTIO_VSOCK_F_DGRAM is not offered by this device";
        return _options.DatagramsOffered;
    }

    /// <summary>Connection types: STREAM (1) and SEQPACKET (2); DGRAM (3) is handled apart.</summary>
    private static bool ConnectionType(VirtioVsockType type, out string error)
    {
        error = type is VirtioVsockType.Stream or VirtioVsockType.Seqpacket
            ? "" : $"type {(uint)type}: only stream (1), seqpacket (2) and datagram (3) sockets exist";
        return error.Length == 0;
    }

    private static int Fail(out string error, int errno, string message)
    {
        error = message;
        return errno;
    }

    public void Dispose()
    {
        _muxer.Dispose();
        _dgram.Dispose();
    }
}
