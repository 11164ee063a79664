using System.Collections.Generic;
using VsockNative.Diagnostics;
using VsockNative.Interop.Native;
using VsockNative.Endpoints;
using VsockNative.EventLoop;
using VsockNative.Interop;
using VsockNative.Protocol;
using VsockNative.Wire;

namespace VsockNative.Connections;

// Direct links to sibling devices of this process (SiblingLink): the origin offers one with every
// routed pair, the target claims it in ConnectFrom, and the connection then goes device to device
// without a socket. Readiness without fds: the muxer tells each link end what it wants to hear of
// (the epoll interest it would have asked for), the peer device signals the end when that may have
// happened (it joins this device's LinkInbox, whose loop is woken), and the muxer looks at the
// level as epoll would report it (LinkEnd.Poll) and hands it to the connection as an fd event.
internal sealed partial class Muxer
{
    private readonly LinkInbox _inbox;
    private readonly Queue<Entry> _linkDue = new();
    private bool _drainingLinks;

    /// <summary>Another thread signalled link ends of this device (called every loop round): each is
    /// looked at once, however often it was signalled.</summary>
    public void OnSignals(long nowMs)
    {
        for (var end = _inbox.TakeAll(); end is not null;)
        {
            var next = end.NextSignalled;  // before the flag is cleared: a new post rewrites it
            end.ClearSignal();
            switch (end.Owner)
            {
                case Entry entry:
                    QueueLinkEvent(entry);
                    break;
                case PendingRoute route:
                    OnRouteLink(route, nowMs);
                    break;
            }
            end = next;
        }
        DrainLinks(nowMs);
    }

    /// <summary>Offers a direct link with a routed pair, filed under the cookie of the end the router
    /// gets (none when the kernel has no socket cookies: the pair is then the only way).</summary>
    private void OfferLink(PendingRoute route, VirtioVsockType type, int theirs)
    {
        long cookie = SocketCalls.Cookie(theirs);
        if (cookie <= 0)
        {
            if (_log.Enabled(LogLevel.Debug)) _log.Write(LogLevel.Debug, $"guest port {route.Request.SrcPort}: no socket cookie (errno {-cookie}): the route can only use the socketpair");
            return;
        }
        route.Link = SiblingLink.Open(type, _options.Limits.BufAlloc, (ulong)cookie, _inbox);
        route.Link.Origin.Owner = route;
    }

    /// <summary>The route lets go of its link (failed, withdrawn, or carried by the pair after all).</summary>
    private static void ReleaseLink(PendingRoute route)
    {
        route.Link?.Origin.Close();
        route.Link = null;
    }

    /// <summary>The link of a pending route was signalled: the target's guest accepted (our guest gets
    /// RESPONSE, the connection runs over the link), or the target let go first (RST).</summary>
    private void OnRouteLink(PendingRoute route, long nowMs)
    {
        if (route.Finished || route.Link is not { } link || link.Target is not { } target) return;
        if (target.Accepted)
        {
            var end = link.Origin;
            ClosePair(route);
            route.Link = null;  // the connection's now
            route.Finished = true;
            _routes.Remove(route.Id);
            _routeIds.Remove(route.Key);
            _counters.RoutesOpened++;
            if (_log.Enabled(LogLevel.Debug))
                _log.Write(LogLevel.Debug, $"guest port {route.Request.SrcPort} -> cid {route.Request.DstCid} port {route.Request.DstPort}: accepted; direct link");
            Add(Accepted(route.Key, route.Request, end, nowMs), null, hostInitiated: false, nowMs, end);
        }
        else if (target.Closed)
            FailRoute(route.Id, route, "refused by the sibling", sendRst: true);
    }

    /// <summary>vsn_connect_from with the other end of a pair a device of this process made for a
    /// route: this device claims the link and the connection goes device to device. The fd has done its
    /// job and is closed (the origin sees its end close, finds the link claimed and waits for the
    /// link's answer: the claim is stored before the close).</summary>
    private bool TryConnectOverLink(ConnKey key, VirtioVsockType type, int fd, long nowMs)
    {
        long cookie = SocketCalls.Cookie(fd);
        if (cookie <= 0 || LinkRegistry.Claim((ulong)cookie, type, _inbox, _options.Limits.BufAlloc) is not { } end) return false;
        Libc.Close(fd);
        if (_log.Enabled(LogLevel.Debug))
            _log.Write(LogLevel.Debug, $"cid {key.HostCid} port {key.HostPort} -> guest port {key.GuestPort}: direct link to the sibling device");
        Add(NewHostInitiated(key, type, end, nowMs), null, hostInitiated: true, nowMs, end);
        return true;
    }

    /// <summary>After anything happened to the connection: tell the link end what it wants to hear of
    /// (the interest it would give epoll, and with write interest the backlog its credit waits for); if
    /// that changed and the level already holds (or the peer hung up), look at it in this round.</summary>
    private void WatchLink(Entry entry, uint want, uint backlogLimit)
    {
        entry.Interest = want;
        if (!entry.Link!.Watch(want, backlogLimit, out uint level)) return;
        if ((level & want) != 0 || ((level & LinkEnd.Hangup) != 0 && !entry.HangupDelivered)) QueueLinkEvent(entry);
    }

    private void QueueLinkEvent(Entry entry)
    {
        if (entry.LinkDue) return;
        entry.LinkDue = true;
        _linkDue.Enqueue(entry);
    }

    /// <summary>Looks at every queued link end (a look may queue others: they are taken in the same loop,
    /// never by recursion).</summary>
    private void DrainLinks(long nowMs)
    {
        if (_drainingLinks) return;
        _drainingLinks = true;
        while (_linkDue.TryDequeue(out var entry))
        {
            entry.LinkDue = false;
            if (!entry.Removed) OnLinkEvent(entry, nowMs);
        }
        _drainingLinks = false;
    }

    /// <summary>A link end's level, as the fd events a socket would give: writable, readable, and the
    /// peer's hangup once (the connection drains what the peer wrote before it).</summary>
    private void OnLinkEvent(Entry entry, long nowMs)
    {
        var c = entry.Connection;
        uint level = entry.Link!.Poll();
        uint events = level & entry.Interest;
        bool hangup = (level & LinkEnd.Hangup) != 0 && !entry.HangupDelivered;
        if (events == 0 && !hangup) return;
        if ((events & LinkEnd.Out) != 0) c.OnHostWritable(nowMs);
        if ((events & LinkEnd.In) != 0) c.OnHostReadable(nowMs);
        if (hangup)
        {
            entry.HangupDelivered = true;
            c.OnHostHangup(nowMs);
        }
        Touch(entry, nowMs);
    }
}
