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

/// <summary>
/// The connection table of one device (Firecracker's muxer): routes every guest packet to its
/// connection by (host cid, host port, guest cid, guest port), creates connections on REQUEST,
/// answers what belongs to no connection, and owns the host endpoints (the hybrid-vsock Unix
/// socket). Decisions on packets that reach no connection are in Protocol/BEHAVIOUR.md.
/// Single-threaded: the device calls it from its event loop only.
/// </summary>
internal sealed partial class Muxer : IDisposable
{
    /// <summary>The host's CID (VMADDR_CID_HOST).</summary>
    public const ulong HostCid = 2;

    private readonly ulong _guestCid;
    private readonly MuxerOptions _options;
    private readonly IPollRegistry _poll;
    private readonly Logger _log;
    private readonly Dictionary<ConnKey, Entry> _byKey = new();
    private readonly Dictionary<uint, Entry> _byId = new();
    private readonly HostPortAllocator _ports = new();
    private uint _nextId = 1;
    /// <summary>Every deadline of the muxer (connections, hybrid handshakes, pending routes).</summary>
    private readonly TimerHeap<ITimed> _timers = new();
    private MuxerCounters _counters;
    private ResourceCounters _resources;
    private ConnectionCounters _ended;

    /// <summary>One connection with its host side (an fd, or a direct link to a sibling device), poll
    /// state and place in the rx ready queue.</summary>
    private sealed class Entry : ITimed
    {
        /// <summary>Files a connection in this entry, new or spare (<see cref="Muxer.Recycle"/>): every
        /// field but <see cref="ScheduledMs"/>, which stays the timer heap's (an entry a freed connection
        /// left there is superseded or finds the new deadline when it comes up).</summary>
        public void Open(uint id, Connection connection, FdStream? fd, LinkEnd? link, bool hostInitiated)
        {
            Id = id;
            Connection = connection;
            Fd = fd;
            Link = link;
            Removed = false;
            Interest = 0;
            LinkDue = HangupDelivered = InReadyQueue = ReadStalled = RegisterDue = false;
            HostInitiated = OpenedByHost = hostInitiated;
        }
        public long DeadlineMs => Removed ? long.MaxValue : Connection.DeadlineMs;
        public long ScheduledMs { get; set; } = long.MaxValue;
        /// <summary>Freed: no longer in the tables (a timer entry left behind is dropped when it comes up).</summary>
        public bool Removed;
        public uint Id { get; private set; }
        public Connection Connection { get; private set; } = null!;
        /// <summary>The host side as a socket (a Unix socket, a socketpair end), or null ...</summary>
        public FdStream? Fd { get; private set; }
        /// <summary>... a direct link to a sibling device's connection (no fd: see Muxer.Link.cs).</summary>
        public LinkEnd? Link { get; private set; }
        public IHostStream Host => Fd is not null ? Fd : Link!;
        /// <summary>Epoll interest (fd), or what the link end was told to watch.</summary>
        public uint Interest;
        /// <summary>Link: queued for a look at its level (<see cref="Muxer.DrainLinks"/>).</summary>
        public bool LinkDue;
        /// <summary>Link: the peer's hangup was passed to the connection (once, as epoll's HUP would be).</summary>
        public bool HangupDelivered;
        public bool InReadyQueue;
        /// <summary>In <see cref="Muxer._registerDue"/>: its fd is registered with epoll before the loop waits.</summary>
        public bool RegisterDue;
        /// <summary>Epoll reported the fd readable again before the device read it empty: reads wait
        /// for rx buffers, so read interest is dropped until a read finds the socket empty.</summary>
        public bool ReadStalled;
        public bool HostInitiated;
        /// <summary>The host side opened the connection (stays set; <see cref="HostInitiated"/> clears after the handshake).</summary>
        public bool OpenedByHost;
    }

    public Muxer(ulong guestCid, MuxerOptions options, IPollRegistry poll, Logger log)
    {
        _guestCid = guestCid;
        _options = options;
        _poll = poll;
        _log = log;
        _inbox = new LinkInbox(poll);
        _udsPortPrefix = options.UdsPath is null ? null : System.Text.Encoding.UTF8.GetBytes(options.UdsPath + "_");
    }

    public MuxerCounters Counters => _counters;

    /// <summary>What could not be done for lack of fds or memory.</summary>
    public ResourceCounters ResourceCounters => _resources;

    /// <summary>The per-connection counters of every connection freed so far, added up (what a
    /// connection counted stays visible after it is gone).</summary>
    public ConnectionCounters EndedCounters => _ended;

    /// <summary>The driver accepted VIRTIO_VSOCK_F_SEQPACKET: SEQPACKET connections may be made.</summary>
    public bool SeqpacketNegotiated { get; set; }
    public int ConnectionCount => _byKey.Count;

    /// <summary>One packet from the tx queue: header (a private copy) and payload (guest memory).</summary>
    public void OnGuestPacket(in PacketHeader h, ReadOnlySpan<IoVec> payload, long nowMs)
    {
        if (h.SrcCid != _guestCid)
        {
            _counters.Spoofed++;
            if (_log.Enabled(LogLevel.Warn)) _log.Warn($"packet with src_cid {h.SrcCid} (guest is {_guestCid}) dropped: {h}");
            return;
        }
        var key = new ConnKey(h.DstCid, h.DstPort, h.SrcCid, h.SrcPort);
        if (_byKey.TryGetValue(key, out var entry))
        {
            entry.Connection.OnGuestPacket(h, payload, nowMs);
            Touch(entry, nowMs);
            return;
        }
        if (_routes.Count > 0 && TryRoutePacket(key, h)) return;
        if ((VirtioVsockOp)h.Op == VirtioVsockOp.Rst)
        {
            // A RST is never answered (BEHAVIOUR.md, "Faults"): for no connection it is dropped;
            // a malformed one is counted as such.
            var rstFault = PacketRules.Check(h, (uint)Math.Min(ScatterIo.TotalLength(payload), uint.MaxValue));
            if (rstFault is PacketFault.None or PacketFault.UnsupportedType) _counters.RstIgnored++;
            else
            {
                _counters.Malformed++;
                if (_log.Enabled(LogLevel.Warn)) _log.Warn($"malformed RST ({rstFault}) for no connection dropped: {h}");
            }
            return;
        }
        if (h.DstCid != HostCid)
        {
            if (h.DstCid != _guestCid && (VirtioVsockOp)h.Op == VirtioVsockOp.Request
                && PacketRules.Check(h, (uint)Math.Min(ScatterIo.TotalLength(payload), uint.MaxValue)) == PacketFault.None)
            {
                StartRoute(key, h, nowMs);  // a sibling's CID: the router decides
                return;
            }
            _counters.UnknownDestination++;
            QueueReset(h);
            return;
        }
        var fault = PacketRules.Check(h, (uint)Math.Min(ScatterIo.TotalLength(payload), uint.MaxValue));
        if (fault != PacketFault.None)
        {
            _counters.Malformed++;
            if (_log.Enabled(LogLevel.Warn)) _log.Warn($"malformed packet ({fault}) for no connection: {h}");
            QueueReset(h);
            return;
        }
        if ((VirtioVsockOp)h.Op != VirtioVsockOp.Request)
        {
            _counters.NoConnection++;
            QueueReset(h);
            return;
        }
        AcceptFromGuest(key, h, nowMs);
    }

    private void AcceptFromGuest(ConnKey key, in PacketHeader h, long nowMs)
    {
        if (_byKey.Count >= _options.MaxConnections)
        {
            _counters.RefusedLimit++;
            _log.Warn($"guest port {h.SrcPort} -> host port {h.DstPort}: refused, {_options.MaxConnections} connections already");
            QueueReset(h);
            return;
        }
        var type = (VirtioVsockType)h.Type;
        if (type == VirtioVsockType.Seqpacket && !SeqpacketNegotiated)
        {
            _counters.SeqpacketNotNegotiated++;
            if (_log.Enabled(LogLevel.Warn)) _log.Warn($"guest port {h.SrcPort} -> host port {h.DstPort}: SEQPACKET REQUEST but VIRTIO_VSOCK_F_SEQPACKET was not negotiated; RST");
            QueueReset(h);
            return;
        }
        if (TryAcceptOnFdListener(key, h, nowMs)) return;
        if (_options.RouteHost)
        {
            // VSN_DEVICE_F_ROUTE_HOST: the program forwards host connections, stream and seqpacket
            // (a seqpacket pair is framed once accepted, as a sibling route's: see FdStream.FramedRecords).
            StartRoute(key, h, nowMs);
            return;
        }
        if (type is not (VirtioVsockType.Stream or VirtioVsockType.Seqpacket) || _options.UdsPath is null)
        {
            _counters.RefusedNoListener++;
            QueueReset(h);
            return;
        }
        // "<uds_path>_<port>", built on the stack (the path string only for a log line)
        int fd = SocketCalls.ConnectUnix(_udsPortPrefix, h.DstPort, SocketTypeOf(type));
        if (fd < 0)
        {
            if (Errno.IsResourceShortage(-fd))
            {
                _resources.RefusedNoResources++;
                _log.Warn($"guest port {h.SrcPort} -> {_options.UdsPath}_{h.DstPort}: no file descriptor or memory left (errno {-fd}); RST");
            }
            else
            {
                _counters.RefusedNoListener++;
                if (_log.Enabled(LogLevel.Debug)) _log.Write(LogLevel.Debug, $"guest port {h.SrcPort} -> {_options.UdsPath}_{h.DstPort}: connect failed (errno {-fd}); RST");
            }
            QueueReset(h);
            return;
        }
        var stream = NewStream(fd, type);
        Add(Accepted(key, h, stream, nowMs), stream, hostInitiated: false, nowMs);
    }

    private static int SocketTypeOf(VirtioVsockType type) =>
        type == VirtioVsockType.Seqpacket ? SocketCalls.SOCK_SEQPACKET : SocketCalls.SOCK_STREAM;

    /// <summary>A SEQPACKET socket's send buffer is made to take a message of buf_alloc bytes: the
    /// kernel refuses a larger message than it with EMSGSIZE (it doubles the value set and caps it at
    /// 2 x net.core.wmem_max).</summary>
    private void RoomForMessages(int fd) =>
        SocketCalls.SetInt(fd, SocketCalls.SOL_SOCKET, SocketCalls.SO_SNDBUF, (int)Math.Min(_options.Limits.BufAlloc + 4096u, int.MaxValue / 2));

    /// <summary>Opens a host-initiated connection to a guest port over <paramref name="stream"/>: a REQUEST
    /// goes to the guest. False (and the stream untouched) when no host port or connection slot is free.</summary>
    public bool ConnectToGuest(uint guestPort, FdStream stream, long nowMs, out uint hostPort, bool greet = true,
        VirtioVsockType type = VirtioVsockType.Stream)
    {
        hostPort = 0;
        if (_byKey.Count >= _options.MaxConnections) return false;
        if (!_ports.TryAllocate((Muxer: this, GuestPort: guestPort),
                static (s, p) => s.Muxer._byKey.ContainsKey(new ConnKey(HostCid, p, s.Muxer._guestCid, s.GuestPort)), out hostPort))
            return false;
        var key = new ConnKey(HostCid, hostPort, _guestCid, guestPort);
        Add(NewHostInitiated(key, type, stream, nowMs), stream, hostInitiated: true, nowMs);
        if (greet)
        {
            Span<byte> line = stackalloc byte[ConnectLine.MaxLength];
            System.Text.Unicode.Utf8.TryWrite(line, $"OK {hostPort}\n", out int length);
            stream.SetGreeting(line[..length]);
        }
        return true;
    }

    /// <summary>Files a new connection over an fd (<paramref name="fd"/>) or a link (<paramref name="link"/>).</summary>
    private Entry Add(Connection connection, FdStream? fd, bool hostInitiated, long nowMs, LinkEnd? link = null)
    {
        var entry = _spareEntries.Take() ?? new Entry();
        entry.Open(_nextId++, connection, fd, link, hostInitiated);
        if (_nextId == 0) _nextId = 1;
        _byKey[connection.Key] = entry;
        _byId[entry.Id] = entry;
        _counters.ConnectionsOpened++;
        if (link is not null)
        {
            link.Owner = entry;
            QueueLinkEvent(entry);  // the peer may have written, or gone, before this end had an owner
        }
        Touch(entry, nowMs);
        return entry;
    }

    /// <summary>After anything happened to a connection: free it when done, else bring its epoll
    /// interest and its place in the rx ready queue up to date.</summary>
    private void Touch(Entry entry, long nowMs)
    {
        var c = entry.Connection;
        if (entry.HostInitiated && c.ConnectOutcome == ConnectOutcome.Established)
        {
            entry.HostInitiated = false;  // handshake finished: greet, then hand over buffered client bytes
            if (entry.Link is { } link) link.Accept();  // the origin answers its guest now
            else
            {
                entry.Fd!.FlushGreeting();
                if (entry.Fd.HasPendingInput) c.OnHostReadable(nowMs);
            }
        }
        if (c.IsDone)
        {
            Remove(entry);
            return;
        }
        if (entry.Fd is not { } fd)
            WatchLink(entry, (c.WantsHostRead ? LinkEnd.In : 0) | (c.WantsHostWrite ? LinkEnd.Out : 0), c.CreditBacklogLimit);
        else
        {
            // Read interest stays while the device is reading the socket (no epoll_ctl per message: the
            // read that finds it empty wants it again anyway); it goes when reading stalls.
            if (c.WantsHostRead) entry.ReadStalled = false;
            bool keepRead = (entry.Interest & Libc.EPOLLIN) != 0 && !entry.ReadStalled && c.ReadingHost;
            uint want = (c.WantsHostRead || keepRead ? Libc.EPOLLIN | Libc.EPOLLRDHUP : 0) | (c.WantsHostWrite ? Libc.EPOLLOUT : 0);
            if (!fd.Registered && want == 0 && c.State == ConnState.Accepting) RegisterBeforeWait(entry);
            else if (want != entry.Interest || !fd.Registered)
            {
                ulong tag = PollTag.Make(PollTag.Connection, entry.Id);
                int rc = fd.Registered ? _poll.Modify(fd.Fd, tag, want) : _poll.Add(fd.Fd, tag, want);
                if (rc == 0) fd.Registered = true;
                entry.Interest = want;
            }
        }
        if (c.HasPendingRx && !entry.InReadyQueue)
        {
            entry.InReadyQueue = true;
            _ready.Enqueue(entry);
        }
        _timers.Schedule(entry);
        DrainLinks(nowMs);  // links whose level a new interest found ready (never recursive)
    }

    private void Remove(Entry entry)
    {
        if (entry.Connection.ConnectOutcome is ConnectOutcome.Refused or ConnectOutcome.TimedOut) _counters.HostConnectsRefused++;
        entry.Host.Close();  // the connection closed it already when it finished; this is a no-op then
        entry.Removed = true;
        _byKey.Remove(entry.Connection.Key);
        _byId.Remove(entry.Id);
        Retire(entry.Connection, entry.Connection.EndReason);
        Recycle(entry);
    }

    /// <summary>A connection is freed: count it, keep its counters in the totals, log why it ended.</summary>
    private void Retire(Connection c, EndReason reason)
    {
        _counters.ConnectionsClosed++;
        var counters = c.Counters;
        ConnectionCounters.Add(ref _ended, in counters);
        // A graceful end is routine (debug), a device reset was asked for (info); any other end is
        // something a peer did or suffered (warn).
        int level = reason switch { EndReason.Graceful => LogLevel.Debug, EndReason.DeviceReset => LogLevel.Info, _ => LogLevel.Warn };
        if (_log.Enabled(level))
        {
            var k = c.Key;
            string fault = reason == EndReason.Malformed ? $" ({c.LastFault})" : "";
            _log.Write(level, $"connection guest {k.GuestCid}:{k.GuestPort} <-> {k.HostCid}:{k.HostPort} freed: {reason}{fault}, "
                + $"{counters.BytesFromGuest} bytes from the guest, {counters.BytesToGuest} to it, {counters.BytesDropped} dropped");
        }
    }

    /// <summary>A host fd of a connection is ready.</summary>
    private void OnConnectionEvent(uint id, uint events, long nowMs)
    {
        if (!_byId.TryGetValue(id, out var entry) || entry.Fd is not { } fd) return;
        var c = entry.Connection;
        if ((events & Libc.EPOLLOUT) != 0) c.OnHostWritable(nowMs);
        if ((events & Libc.EPOLLIN) != 0)
        {
            if (c.ReadingHost) entry.ReadStalled = true;  // readable again, not read empty since
            c.OnHostReadable(nowMs);
        }
        else if ((events & (Libc.EPOLLERR | Libc.EPOLLHUP)) != 0) c.OnHostHangup(nowMs);
        Touch(entry, nowMs);
        // A hung-up fd that nothing wants to read any more would wake the loop forever: stop watching it.
        if (!c.IsDone && (events & (Libc.EPOLLERR | Libc.EPOLLHUP)) != 0 && entry.Interest == 0 && fd.Registered)
        {
            _poll.Remove(fd.Fd);
            fd.Registered = false;
        }
    }

    /// <summary>The earliest deadline of any connection, handshake or pending route (long.MaxValue:
    /// none), from the timer heap: no scan of the connections.</summary>
    public long NextDeadlineMs => _timers.NextDeadlineMs;

    /// <summary>Runs every deadline that has passed.</summary>
    public void OnTimer(long nowMs)
    {
        while (_timers.TryTakeDue(nowMs, out var item))
        {
            switch (item)
            {
                case Entry e:
                    e.Connection.OnTimer(nowMs);
                    Touch(e, nowMs);
                    break;
                case Handshake hs when _handshakes.TryGetValue(hs.Id, out var h) && h == hs:
                    RejectHandshake(hs.Id, hs, "no CONNECT line in time");
                    break;
                case PendingRoute r when _routes.TryGetValue(r.Id, out var p) && p == r:
                    FailRoute(r.Id, r, "no answer in time", sendRst: true);
                    break;
                case AcceptPause when ReferenceEquals(item, _acceptPause):
                    ResumeAccepting(nowMs);
                    break;
            }
        }
    }

    /// <summary>Forgets every connection (device reset, TRANSPORT_RESET): host streams are closed,
    /// counters kept in the totals. Endpoints stay open.</summary>
    /// <param name="tellGuest">Keep a RST for every connection the guest knows of, sent first once
    /// the device runs again on the same rings (a device reset, e.g. a vhost-user frontend that went
    /// away and came back with the guest still running: see <see cref="OnStartAfterReset"/>); false
    /// for TRANSPORT_RESET, whose event makes the guest reset its sockets itself.</param>
    public void DropConnections(bool tellGuest)
    {
        _resets.Clear();
        _staleResets.Clear();
        foreach (var e in _byId.Values)
        {
            e.Host.Close();
            e.Removed = true;
            var c = e.Connection;
            if (tellGuest && c.GuestKnowsIt) QueueStaleReset(c.Key, c.Type);
            Retire(c, c.EndReason == EndReason.None ? EndReason.DeviceReset : c.EndReason);
        }
        _byId.Clear();
        _byKey.Clear();
        _ready.Clear();
        _linkDue.Clear();
        _registerDue.Clear();
        if (tellGuest)
            foreach (var r in _routes.Values) QueueStaleReset(r.Key, VirtioVsockType.Stream);  // its REQUEST waits for an answer
        DropRoutes();
    }

    public void Dispose()
    {
        foreach (var e in _byId.Values) e.Host.Close();
        _byId.Clear();
        _byKey.Clear();
        _ready.Clear();
        _linkDue.Clear();
        DropRoutes();
        CloseEndpoints();
        _inbox.Dispose();  // before the loop's eventfd goes: sibling devices wake this loop no more
    }
}
