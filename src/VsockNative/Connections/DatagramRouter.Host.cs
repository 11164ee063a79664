using System;
using System.Collections.Generic;
using System.Text;
using VsockNative.Memory;
using VsockNative.Endpoints;
using VsockNative.EventLoop;
using VsockNative.Interop;
using VsockNative.Protocol;
using VsockNative.Wire;
using VsockNative.Diagnostics;
using VsockNative.Interop.Native;

namespace VsockNative.Connections;

// Host endpoints of datagrams. The Unix convention (BEHAVIOUR.md, "Datagrams"):
//   <uds_path>_P      a SOCK_DGRAM socket a host program binds for host port P (as the stream listener)
//   <uds_path>-G      bound by the device for guest port G: guest datagrams from G are sent from it,
//                     so recvfrom names the guest port and sendto that address replies to G
//   <uds_path>_dgram  the device's hub: a host program that sends first writes a vsn_dgram_addr
//                     prefix naming G, then the payload; its own bound address names P
// and the fd API: vsn_device_listen(P, DGRAM) gets one SOCK_DGRAM socketpair end (datagrams carry a
// vsn_dgram_addr prefix), vsn_device_connect(G, DGRAM) one bound to (host port, G) without prefix.
internal sealed partial class DatagramRouter
{
    private enum Kind { GuestPort, Hub, Listen, Connected }

    private sealed class Endpoint : ITimed
    {
        /// <summary>Guest-port sockets close when idle this long (ms; 0 for the other kinds: no timer).</summary>
        public long IdleMs;
        public long DeadlineMs => Fd < 0 || IdleMs == 0 ? long.MaxValue : LastUsedMs + IdleMs;
        public long ScheduledMs { get; set; } = long.MaxValue;
        public uint Id;
        public int Fd = -1;
        public Kind Kind;
        public uint GuestPort;
        public uint HostPort;
        public long LastUsedMs;
        public bool Registered;
        public bool Reading;
    }

    private const int AddrSize = 2 + SocketCalls.SunPathSize;
    private readonly Dictionary<uint, Endpoint> _byId = new();
    private readonly Dictionary<uint, Endpoint> _guestSockets = new();
    private readonly Dictionary<uint, Endpoint> _hostPorts = new();
    private readonly Dictionary<uint, IFdListener> _listeners = new();
    private readonly HostPortAllocator _ports = new();
    private readonly PinnedBuffer _scratch = new(VsockDgramPrefix + DatagramOptions.MaxDatagram + 1);
    /// <summary>The vsn_dgram_addr prefix of a datagram sent to a listener's fd.</summary>
    private readonly PinnedBuffer _prefix = new(VsockDgramPrefix);
    private byte[] _hostPrefix = Array.Empty<byte>();
    private byte[] _guestPrefix = Array.Empty<byte>();
    private Endpoint? _hub;
    private uint _nextId = 1;
    private bool _reading = true;

    /// <summary>Bytes of the vsn_dgram_addr prefix.</summary>
    private const int VsockDgramPrefix = DgramAddr.Size;

    private void InitEndpoints()
    {
        if (_options.UdsPath is null) return;
        _hostPrefix = Encoding.UTF8.GetBytes(_options.UdsPath + "_");
        _guestPrefix = Encoding.UTF8.GetBytes(_options.UdsPath + "-");
    }

    public int EndpointCount => _byId.Count;

    /// <summary>Opens the hub "&lt;uds_path&gt;_dgram" (device start); 0 or -errno. Nothing without uds_path.</summary>
    public int OpenEndpoints()
    {
        if (_options.UdsPath is null || _hub is not null) return 0;
        int fd = SocketCalls.ListenUnix(_options.UdsPath + "_dgram", SocketCalls.SOCK_DGRAM, 0);
        if (fd < 0) return fd;
        _hub = Register(fd, Kind.Hub, 0, 0, 0);
        return 0;
    }

    private Endpoint Register(int fd, Kind kind, uint guestPort, uint hostPort, long nowMs)
    {
        var e = new Endpoint { Id = _nextId++, Fd = fd, Kind = kind, GuestPort = guestPort, HostPort = hostPort, LastUsedMs = nowMs };
        if (_nextId == 0) _nextId = 1;
        _byId[e.Id] = e;
        if (kind == Kind.GuestPort)
        {
            _guestSockets[guestPort] = e;
            e.IdleMs = _options.SocketIdleMs;
            _idleTimers.Schedule(e);  // LastUsedMs only moves later: the heap catches up lazily
        }
        if (kind is Kind.Listen or Kind.Connected) _hostPorts[hostPort] = e;
        e.Reading = _reading;
        e.Registered = _poll.Add(fd, PollTag.Make(PollTag.Datagram, e.Id), _reading ? Libc.EPOLLIN : 0) == 0;
        return e;
    }

    private void Close(Endpoint e)
    {
        if (e.Fd < 0) return;
        if (e.Registered) _poll.Remove(e.Fd);
        Libc.Close(e.Fd);
        e.Fd = -1;
        _byId.Remove(e.Id);
        if (e.Kind == Kind.GuestPort)
        {
            _guestSockets.Remove(e.GuestPort);
            RemovePortPath(_guestPrefix, e.GuestPort);
        }
        if (e.Kind is Kind.Listen or Kind.Connected) _hostPorts.Remove(e.HostPort);
        if (e.Kind == Kind.Hub)
        {
            SocketCalls.RemovePath(_options.UdsPath + "_dgram");
            _hub = null;
        }
    }

    private void CloseEndpoints()
    {
        foreach (var e in new List<Endpoint>(_byId.Values)) Close(e);
        _listeners.Clear();
    }

    private static void RemovePortPath(byte[] prefix, uint port)
    {
        Span<byte> addr = stackalloc byte[AddrSize];
        if (SocketCalls.PortAddress(prefix, port, addr, out uint len))
            SocketCalls.RemovePath(Encoding.UTF8.GetString(addr.Slice(2, (int)len - 3)));
    }

    /// <summary>The device-owned socket "&lt;uds_path&gt;-G" of a guest port, created on first use; null
    /// when max_dgram_sockets are open (counted) or it cannot be bound (logged).</summary>
    private Endpoint? GuestSocket(uint guestPort, long nowMs)
    {
        if (_guestSockets.TryGetValue(guestPort, out var e))
        {
            e.LastUsedMs = nowMs;
            return e;
        }
        if (OwnedSockets >= _options.MaxSockets)
        {
            _counters.SocketsRefused++;
            _log.Warn($"datagram socket for guest port {guestPort} refused: {_options.MaxSockets} already open");
            return null;
        }
        Span<byte> addr = stackalloc byte[AddrSize];
        SocketCalls.PortAddress(_guestPrefix, guestPort, addr, out uint len);
        string path = Encoding.UTF8.GetString(addr.Slice(2, (int)len - 3));
        int fd = SocketCalls.ListenUnix(path, SocketCalls.SOCK_DGRAM, 0);
        if (fd < 0)
        {
            _counters.DroppedHostError++;
            _log.Error($"cannot bind the datagram socket {path} (errno {-fd})");
            return null;
        }
        return Register(fd, Kind.GuestPort, guestPort, 0, nowMs);
    }

    /// <summary>Device-owned datagram fds that count against max_dgram_sockets (all but the hub).</summary>
    private int OwnedSockets => _byId.Count - (_hub is null ? 0 : 1);

    /// <summary>Hands a whole guest datagram to the endpoint of host port <paramref name="hostPort"/>.</summary>
    private void Deliver(uint guestPort, uint hostPort, ulong dstCid, ReadOnlySpan<IoVec> payload, ulong length, long nowMs)
    {
        long rc;
        Endpoint? e = null;
        if (dstCid == Muxer.HostCid && !_hostPorts.TryGetValue(hostPort, out e) && _listeners.TryGetValue(hostPort, out var listener))
            e = AcceptOnListener(hostPort, guestPort, listener, nowMs);
        if (dstCid != Muxer.HostCid || (e is null && _options.UdsPath is null) || (e is { Kind: Kind.Connected } && e.GuestPort != guestPort))
        {
            NoListener(guestPort, hostPort, dstCid, "no socket");
            return;
        }
        if (e is not null)
        {
            if (e.Fd < 0) return;  // accepting failed: counted and logged there
            e.LastUsedMs = nowMs;
            rc = e.Kind == Kind.Listen ? SendWithPrefix(e.Fd, guestPort, payload) : SocketCalls.SendTo(e.Fd, default, 0, payload);
        }
        else
        {
            var source = GuestSocket(guestPort, nowMs);
            if (source is null) return;
            Span<byte> addr = stackalloc byte[AddrSize];
            if (!SocketCalls.PortAddress(_hostPrefix, hostPort, addr, out uint len))
            {
                NoListener(guestPort, hostPort, dstCid, "path too long");
                return;
            }
            rc = SocketCalls.SendTo(source.Fd, addr, len, payload);
        }
        Sent(rc, guestPort, hostPort, length, e);
    }

    private long SendWithPrefix(int fd, uint guestPort, ReadOnlySpan<IoVec> payload)
    {
        _ = new DgramAddr(_prefix.Span) { Port = guestPort, Reserved = 0 };
        _sendVecs[0] = _prefix.Slice(0, VsockDgramPrefix);
        payload.CopyTo(_sendVecs.AsSpan(1));
        return SocketCalls.SendTo(fd, default, 0, _sendVecs.AsSpan(0, payload.Length + 1));
    }

    private void Sent(long rc, uint guestPort, uint hostPort, ulong length, Endpoint? binding)
    {
        if (rc >= 0)
        {
            _counters.GuestToHostDatagrams++;
            _counters.GuestToHostBytes += length;
            return;
        }
        switch ((int)-rc)
        {
            case Errno.EAGAIN or Errno.ENOBUFS:
                _counters.DroppedNoRxSpace++;
                if (_log.Enabled(LogLevel.Debug)) _log.Write(LogLevel.Debug, $"guest datagram {guestPort} -> {hostPort}: host socket full (errno {-rc}); dropped");
                break;
            case Errno.EMSGSIZE:
                _counters.DroppedTooBig++;
                _log.Warn($"guest datagram {guestPort} -> {hostPort} of {length} bytes: too long for the host socket; dropped");
                break;
            case Errno.ENOENT or Errno.ECONNREFUSED or Errno.EPROTOTYPE or Errno.ECONNRESET or Errno.EPIPE:
                if (binding is not null) Close(binding);  // the program closed its end
                NoListener(guestPort, hostPort, Muxer.HostCid, $"errno {-rc}");
                break;
            default:
                _counters.DroppedHostError++;
                _log.Error($"guest datagram {guestPort} -> {hostPort}: send failed (errno {-rc}); dropped");
                break;
        }
    }

    private void NoListener(uint guestPort, uint hostPort, ulong dstCid, string why)
    {
        _counters.DroppedNoListener++;
        if (_log.Enabled(LogLevel.Debug)) _log.Write(LogLevel.Debug, $"guest datagram {guestPort} -> {dstCid}:{hostPort}: {why}; RST");
        QueueReset(guestPort, hostPort, dstCid);
    }

    /// <summary>A host datagram fd is ready: reads while a largest datagram still fits the queue.</summary>
    public void OnFdEvent(ulong tag, uint events, long nowMs)
    {
        if (!_byId.TryGetValue(PollTag.Id(tag), out var e)) return;
        Span<byte> addr = stackalloc byte[AddrSize];
        Span<IoVec> into = stackalloc IoVec[1];
        for (int i = 0; i < 64 && e.Fd >= 0 && _toGuest.CanAccept(DatagramOptions.MaxDatagram); i++)
        {
            long n;
            {
                into[0] = _scratch.Slice(0, _scratch.Length);
                n = SocketCalls.ReceiveFrom(e.Fd, into, addr, out uint addrLength);
                if (n == -Errno.EAGAIN) break;
                if (n < 0)
                {
                    _counters.DroppedHostError++;
                    _log.Error($"datagram endpoint {e.Kind}: receive failed (errno {-n}){(e.Kind is Kind.Listen or Kind.Connected ? "; the fd-API end is closed" : "")}");
                    if (e.Kind is Kind.Listen or Kind.Connected) Close(e);  // the program's end is gone
                    break;
                }
                OnHostDatagram(e, (int)Math.Min(n, int.MaxValue), addr, addrLength, nowMs);
            }
        }
        UpdateReadInterest();
    }

    private void OnHostDatagram(Endpoint e, int n, ReadOnlySpan<byte> addr, uint addrLength, long nowMs)
    {
        e.LastUsedMs = nowMs;
        int kept = Math.Min(n, _scratch.Length);  // n > kept: cut off, and then longer than the limit
        var bytes = _scratch.Span[..kept];
        switch (e.Kind)
        {
            case Kind.Connected:
                QueueForGuest(e.HostPort, e.GuestPort, bytes);
                return;
            case Kind.GuestPort:
                if (!SenderPort(addr, addrLength, e.Kind, out uint hostPort)) return;
                QueueForGuest(hostPort, e.GuestPort, bytes);
                return;
        }
        if (n < VsockDgramPrefix || new DgramAddr(_scratch.Span).Reserved != 0)
        {
            _counters.HostMalformed++;
            _log.Warn($"datagram endpoint {e.Kind}: {n}-byte datagram without a valid vsn_dgram_addr prefix; dropped");
            return;
        }
        uint guestPort = new DgramAddr(_scratch.Span).Port;
        var payload = bytes.Slice(VsockDgramPrefix);  // a truncated datagram stays longer than the limit
        if (e.Kind == Kind.Listen)
        {
            QueueForGuest(e.HostPort, guestPort, payload);
            return;
        }
        if (!SenderPort(addr, addrLength, e.Kind, out uint from)) return;
        GuestSocket(guestPort, nowMs);  // so the guest's reply comes from "<uds_path>-G"
        QueueForGuest(from, guestPort, payload);
    }

    /// <summary>The host port P of a sender bound at "&lt;uds_path&gt;_P"; other senders are counted and dropped.</summary>
    private bool SenderPort(ReadOnlySpan<byte> addr, uint addrLength, Kind kind, out uint port)
    {
        if (SocketCalls.ParsePortAddress(addr, addrLength, _hostPrefix, out port)) return true;
        _counters.HostMalformed++;
        _log.Warn($"datagram endpoint {kind}: sender is not bound at \"{_options.UdsPath}_<port>\"; dropped (bind your socket there to name your host port)");
        return false;
    }

    /// <summary>Reads host sockets only while a largest datagram fits the queue: when it does not,
    /// host senders see EAGAIN (backpressure) instead of the device dropping their datagrams.</summary>
    private void UpdateReadInterest()
    {
        bool reading = _toGuest.CanAccept(DatagramOptions.MaxDatagram);
        if (reading == _reading) return;
        _reading = reading;
        foreach (var e in _byId.Values)
        {
            if (e.Fd < 0 || e.Reading == reading) continue;
            e.Reading = reading;
            if (e.Registered) _poll.Modify(e.Fd, PollTag.Make(PollTag.Datagram, e.Id), reading ? Libc.EPOLLIN : 0);
        }
    }

    /// <summary>Idle deadlines of the guest-port sockets.</summary>
    private readonly EventLoop.TimerHeap<Endpoint> _idleTimers = new();

    private long NextIdleDeadlineMs() => _idleTimers.NextDeadlineMs;

    private void ExpireIdleSockets(long nowMs)
    {
        while (_idleTimers.TryTakeDue(nowMs, out var e))
        {
            _counters.SocketsExpired++;
            if (_log.Enabled(LogLevel.Debug)) _log.Write(LogLevel.Debug, $"datagram socket of guest port {e.GuestPort} idle for {_options.SocketIdleMs} ms: closed");
            Close(e);
        }
    }
}
