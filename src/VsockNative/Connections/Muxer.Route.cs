using System;
using System.Collections.Generic;
using VsockNative.Endpoints;
using VsockNative.EventLoop;
using VsockNative.Interop;
using VsockNative.Protocol;
using VsockNative.Wire;
using VsockNative.Diagnostics;
using VsockNative.Interop.Native;

namespace VsockNative.Connections;

// Sibling routing. Outgoing: a guest REQUEST to a CID that is neither the host nor the guest goes to
// the program's router as one end of a socketpair, and a SiblingLink is offered under that end's
// cookie. If a device of this process receives the end (vsn_connect_from), it claims the link and the
// connection goes device to device (Muxer.Link.cs); otherwise the pair is the connection. The guest
// gets its RESPONSE only when the target guest accepted (the link says so, or RouteAccepted arrives on
// the pair), RST when the link or the pair ends first. Incoming: ConnectFrom opens a host-initiated
// connection whose peer address is the sibling's (cid, port), over the link or the pair, and answers
// the origin once this guest accepts. Design and deadlock rules: Protocol/BEHAVIOUR.md, "Sibling routing".
internal sealed partial class Muxer
{
    /// <summary>The byte the target device writes on the pair when its guest accepted.</summary>
    public const byte RouteAccepted = 0x06;

    private readonly Dictionary<uint, PendingRoute> _routes = new();
    private readonly Dictionary<ConnKey, uint> _routeIds = new();
    private readonly List<DeferredCall> _deferred = new();
    private static readonly byte[] s_routeGreeting = { RouteAccepted };

    /// <summary>A routed REQUEST waiting for the sibling guest's answer.</summary>
    private sealed class PendingRoute : ITimed
    {
        public PendingRoute(uint id, ConnKey key, in PacketHeader request, int fd, long deadline) { Id = id; Key = key; Request = request; Fd = fd; _deadline = deadline; }
        private readonly long _deadline;
        public uint Id { get; }
        public ConnKey Key { get; }
        public PacketHeader Request { get; }
        /// <summary>Our end of the pair (-1 once closed or handed to the connection).</summary>
        public int Fd;
        /// <summary>The direct link offered with the pair (null: none, or no longer the route's).</summary>
        public SiblingLink? Link;
        /// <summary>Answered or failed: the timer is void.</summary>
        public bool Finished;
        public long DeadlineMs => Finished ? long.MaxValue : _deadline;
        public long ScheduledMs { get; set; } = long.MaxValue;
    }

    /// <summary>The program's router (null: sibling CIDs are unknown destinations).</summary>
    public ISiblingRouter? Router { get; set; }

    /// <summary>Whether calls into the program wait for the device to release its lock.</summary>
    public bool HasDeferred => _deferred.Count > 0;

    /// <summary>Hands the waiting calls over (the device makes them outside its lock).</summary>
    public void TakeDeferred(IDeferredSink into)
    {
        foreach (var call in _deferred) into.Defer(call);
        _deferred.Clear();
    }

    /// <summary>Queues a call into the program for after the device released its lock.</summary>
    public void Defer(DeferredCall call) => _deferred.Add(call);

    /// <summary>A packet for a key that has a pending route: a RST withdraws the REQUEST quietly,
    /// anything else is out of order (the guest has no RESPONSE yet) and resets it.</summary>
    private bool TryRoutePacket(in ConnKey key, in PacketHeader h)
    {
        if (!_routeIds.TryGetValue(key, out uint id)) return false;
        var route = _routes[id];
        bool rst = (VirtioVsockOp)h.Op == VirtioVsockOp.Rst;
        FailRoute(id, route, rst ? "the guest withdrew its REQUEST" : $"op {h.Op} before RESPONSE", sendRst: !rst);
        return true;
    }

    /// <summary>A well-formed guest REQUEST to a sibling CID: pair, pending route, deferred router call.</summary>
    private void StartRoute(in ConnKey key, in PacketHeader h, long nowMs)
    {
        var type = (VirtioVsockType)h.Type;
        if (Router is not { } router || !router.Takes(type))
        {
            _counters.UnknownDestination++;
            if (_log.Enabled(LogLevel.Info))
                _log.Info(Router is null
                    ? $"guest port {h.SrcPort} -> cid {h.DstCid} port {h.DstPort}: no router for sibling CIDs; RST"
                    : $"guest port {h.SrcPort} -> cid {h.DstCid} port {h.DstPort}: the router does not take type {h.Type} connections (vsn_set_router is stream only); RST");
            QueueReset(h);
            return;
        }
        if (type == VirtioVsockType.Seqpacket && !SeqpacketNegotiated)
        {
            _counters.SeqpacketNotNegotiated++;
            QueueReset(h);
            return;
        }
        if (_byKey.Count + _routes.Count >= _options.MaxConnections)
        {
            _counters.RefusedLimit++;
            QueueReset(h);
            return;
        }
        int rc = SocketCalls.Pair(SocketTypeOf(type), out int mine, out int theirs);
        uint id = _nextId++;
        if (_nextId == 0) _nextId = 1;
        if (rc < 0 || _poll.Add(mine, PollTag.Make(PollTag.Route, id), Libc.EPOLLIN | Libc.EPOLLRDHUP) < 0)
        {
            _log.Error($"guest port {h.SrcPort} -> cid {h.DstCid} port {h.DstPort}: socketpair or epoll failed; RST");
            if (rc >= 0)
            {
                Libc.Close(mine);
                Libc.Close(theirs);
            }
            _counters.RoutesRefused++;
            QueueReset(h);
            return;
        }
        if (type == VirtioVsockType.Seqpacket) RoomForMessages(theirs);
        // The target has its own connect timeout and closes the pair when it fires; ours only
        // bounds a router that kept the fd and never handed it on.
        var route = new PendingRoute(id, key, h, mine, nowMs + 2 * _options.Limits.ConnectTimeoutMs);
        OfferLink(route, type, theirs);
        _routes[id] = route;
        _routeIds[key] = id;
        _timers.Schedule(route);
        Defer(DeferredCall.Route(router, _log, type, h.DstCid, h.DstPort, h.SrcCid, h.SrcPort, theirs, _spareCalls));
    }

    /// <summary>The pair of a pending route is readable: the acceptance byte, or the end (refused).</summary>
    private void OnRouteEvent(uint id, long nowMs)
    {
        if (!_routes.TryGetValue(id, out var route)) return;
        Span<byte> one = stackalloc byte[1];
        long n = SocketCalls.Receive(route.Fd, one);
        byte b = one[0];
        if (n == HostStreamResult.WouldBlock) return;
        if (n == 0 && route.Link?.Target is not null)
        {
            ClosePair(route);  // a device of this process took the link and closed the pair: wait for the link's answer
            return;
        }
        if (n != 1 || b != RouteAccepted)
        {
            FailRoute(id, route, n == 0 ? "refused by the sibling" : n < 0 ? $"pair read failed (errno {-n})" : $"bad acceptance byte {b}", sendRst: true);
            return;
        }
        ReleaseLink(route);  // the pair is the connection: its other end is not a device of this process
        _poll.Remove(route.Fd);
        _routes.Remove(id);
        _routeIds.Remove(route.Key);
        _counters.RoutesOpened++;
        var stream = NewStream(route.Fd, (VirtioVsockType)route.Request.Type, framed: true);
        route.Fd = -1;  // the stream's now
        route.Finished = true;
        Add(Accepted(route.Key, route.Request, stream, nowMs), stream, hostInitiated: false, nowMs);
    }

    private void FailRoute(uint id, PendingRoute route, string why, bool sendRst)
    {
        _counters.RoutesRefused++;
        if (_log.Enabled(LogLevel.Debug))
            _log.Write(LogLevel.Debug, $"guest port {route.Request.SrcPort} -> cid {route.Request.DstCid} port {route.Request.DstPort}: {why}");
        CloseRoute(route);
        _routes.Remove(id);
        _routeIds.Remove(route.Key);
        if (sendRst) QueueReset(route.Request);
    }

    private void CloseRoute(PendingRoute route)
    {
        ClosePair(route);
        ReleaseLink(route);
        route.Finished = true;
    }

    private void ClosePair(PendingRoute route)
    {
        if (route.Fd < 0) return;
        _poll.Remove(route.Fd);
        Libc.Close(route.Fd);
        route.Fd = -1;
    }

    /// <summary>Forgets every pending route (device reset): fds closed, nothing sent to the guest.</summary>
    private void DropRoutes()
    {
        foreach (var r in _routes.Values) CloseRoute(r);
        _routes.Clear();
        _routeIds.Clear();
        foreach (var call in _deferred)
            if (call.IsRoute) Libc.Close(call.Fd);  // never handed over: the sibling was not asked yet
        _deferred.RemoveAll(c => c.IsRoute);
    }

    /// <summary>A sibling's guest connects to <paramref name="guestPort"/> from (srcCid, srcPort) over
    /// <paramref name="fd"/> (a socket of <paramref name="type"/>'s kind): a REQUEST goes to this guest;
    /// when it accepts, the origin is told over the link the fd stood for (a pair made by a device of
    /// this process), else RouteAccepted is written on fd. 0 (fd taken), or -errno (fd untouched).</summary>
    public int ConnectFrom(uint guestPort, VirtioVsockType type, ulong srcCid, uint srcPort, int fd, long nowMs)
    {
        if (_byKey.Count + _routes.Count >= _options.MaxConnections) return -Errno.EAGAIN;
        var key = new ConnKey(srcCid, srcPort, _guestCid, guestPort);
        if (_byKey.ContainsKey(key) || _routeIds.ContainsKey(key)) return -Errno.EADDRINUSE;
        int socketType = SocketCalls.GetInt(fd, SocketCalls.SOL_SOCKET, SocketCalls.SO_TYPE);
        if (socketType < 0) return socketType;
        if (socketType != SocketTypeOf(type)) return -Errno.EPROTOTYPE;
        _counters.RoutedIn++;
        if (TryConnectOverLink(key, type, fd, nowMs)) return 0;
        if (type == VirtioVsockType.Seqpacket) SocketCalls.SetInt(fd, SocketCalls.SOL_SOCKET, SocketCalls.SO_PASSCRED, 1);
        var stream = NewStream(fd, type, framed: true);
        Add(NewHostInitiated(key, type, stream, nowMs), stream, hostInitiated: true, nowMs);
        stream.SetGreeting(s_routeGreeting);
        return 0;
    }

}
