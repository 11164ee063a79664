using System;
using System.Collections.Generic;
using VsockNative.Endpoints;
using VsockNative.EventLoop;
using VsockNative.Interop;
using VsockNative.Protocol;
using VsockNative.Diagnostics;
using VsockNative.Interop.Native;
using VsockNative.Wire;

namespace VsockNative.Connections;

// The hybrid-vsock Unix socket: host programs connect to <uds_path> and write "CONNECT <port>\n".
internal sealed partial class Muxer
{
    private readonly Dictionary<uint, Handshake> _handshakes = new();
    private int _listenFd = -1;

    /// <summary>How long the hybrid socket is left unwatched after accept failed for lack of fds.</summary>
    private const int AcceptRetryMs = 100;
    private readonly AcceptPause _acceptPause = new();

    /// <summary>The hybrid socket is not watched until <see cref="DeadlineMs"/>: accept failed for lack
    /// of file descriptors or memory. Its listener stays readable meanwhile (the clients wait in the
    /// backlog), so a level-triggered loop that kept watching it would wake at every turn: a spin.</summary>
    private sealed class AcceptPause : ITimed
    {
        public long DeadlineMs { get; set; } = long.MaxValue;
        public long ScheduledMs { get; set; } = long.MaxValue;
        public bool Paused => DeadlineMs != long.MaxValue;
        /// <summary>Accept has failed for lack of fds since it last did not (one episode, counted once).</summary>
        public bool Short;
    }

    /// <summary>A host client that has not sent its CONNECT line yet.</summary>
    private sealed class Handshake : ITimed
    {
        public Handshake(uint id, int fd, long deadline) { Id = id; Fd = fd; _deadline = deadline; }
        private readonly long _deadline;
        public uint Id { get; }
        public int Fd;
        public long DeadlineMs => Fd < 0 ? long.MaxValue : _deadline;
        public long ScheduledMs { get; set; } = long.MaxValue;
        public readonly byte[] Line = new byte[ConnectLine.MaxLength];
        public int Length;
    }

    /// <summary>Starts listening on the hybrid socket path, if one is configured; 0 or -errno.</summary>
    public int OpenEndpoints()
    {
        if (_options.UdsPath is null || _listenFd >= 0) return 0;
        int fd = SocketCalls.ListenUnix(_options.UdsPath, SocketCalls.SOCK_STREAM, 128);
        if (fd < 0) return fd;
        int rc = _poll.Add(fd, PollTag.Make(PollTag.Listener, 0), Libc.EPOLLIN);
        if (rc < 0)
        {
            Libc.Close(fd);
            return rc;
        }
        _listenFd = fd;
        _log.Info($"listening on {_options.UdsPath}");
        return 0;
    }

    private void CloseEndpoints()
    {
        foreach (var hs in _handshakes.Values) CloseHandshake(hs);
        _handshakes.Clear();
        _acceptPause.DeadlineMs = long.MaxValue;
        _acceptPause.Short = false;
        if (_listenFd >= 0)
        {
            _poll.Remove(_listenFd);
            Libc.Close(_listenFd);
            SocketCalls.RemovePath(_options.UdsPath!);
            _listenFd = -1;
        }
    }

    /// <summary>An fd of the connection layer is ready (the device passes every tag it does not own).</summary>
    public void OnFdEvent(ulong tag, uint events, long nowMs)
    {
        switch (PollTag.Kind(tag))
        {
            case PollTag.Listener: AcceptClients(nowMs); break;
            case PollTag.Handshake: ReadHandshake(PollTag.Id(tag), nowMs); break;
            case PollTag.Connection: OnConnectionEvent(PollTag.Id(tag), events, nowMs); break;
            case PollTag.Route: OnRouteEvent(PollTag.Id(tag), nowMs); break;
        }
    }

    private void AcceptClients(long nowMs)
    {
        for (int i = 0; i < 16; i++)
        {
            int fd = SocketCalls.Accept(_listenFd);
            if (fd < 0 && Errno.IsResourceShortage(-fd))
            {
                PauseAccepting(nowMs, -fd);
                return;
            }
            if (_acceptPause.Short)
            {
                _acceptPause.Short = false;
                _log.Info("hybrid socket: accepting again");
            }
            if (fd < 0) return;
            if (_handshakes.Count >= _options.MaxHandshakes)
            {
                _counters.HandshakesRejected++;
                _log.Warn($"hybrid socket: {_options.MaxHandshakes} clients already waiting to CONNECT; closing a new one");
                Libc.Close(fd);
                continue;
            }
            uint id = _nextId++;
            var hs = new Handshake(id, fd, nowMs + _options.HandshakeTimeoutMs);
            if (_poll.Add(fd, PollTag.Make(PollTag.Handshake, id), Libc.EPOLLIN) < 0)
            {
                Libc.Close(fd);
                continue;
            }
            _handshakes[id] = hs;
            _timers.Schedule(hs);
        }
    }

    /// <summary>Accept failed for lack of fds or memory: stop watching the listener and try again
    /// <see cref="AcceptRetryMs"/> later (the first failure of an episode is logged and counted; the
    /// next accept that does not fail for lack of fds ends the episode).</summary>
    private void PauseAccepting(long nowMs, int errno)
    {
        if (!_acceptPause.Short)
        {
            _acceptPause.Short = true;
            _resources.AcceptPauses++;
            _log.Warn($"hybrid socket: accept failed (errno {errno}: no file descriptor or memory left); "
                + $"clients wait in the backlog, trying again every {AcceptRetryMs} ms");
        }
        _poll.Modify(_listenFd, PollTag.Make(PollTag.Listener, 0), 0);
        _acceptPause.DeadlineMs = nowMs + AcceptRetryMs;
        _timers.Schedule(_acceptPause);
    }

    /// <summary>The pause is over: accept what waits (which pauses again if fds are still short), then
    /// watch the listener again.</summary>
    private void ResumeAccepting(long nowMs)
    {
        _acceptPause.DeadlineMs = long.MaxValue;
        if (_listenFd < 0) return;
        AcceptClients(nowMs);
        if (!_acceptPause.Paused) _poll.Modify(_listenFd, PollTag.Make(PollTag.Listener, 0), Libc.EPOLLIN);
    }

    private void ReadHandshake(uint id, long nowMs)
    {
        if (!_handshakes.TryGetValue(id, out var hs)) return;
        long n = SocketCalls.Receive(hs.Fd, hs.Line.AsSpan(hs.Length));
        if (n == HostStreamResult.WouldBlock) return;
        if (n <= 0)
        {
            RejectHandshake(id, hs, n == 0 ? "closed before CONNECT" : $"read failed (errno {-n})");
            return;
        }
        hs.Length += (int)n;
        var status = ConnectLine.Parse(hs.Line.AsSpan(0, hs.Length), out uint port, out int lineLength, out var error);
        if (status == ConnectLine.Status.NeedMore) return;
        if (status == ConnectLine.Status.Invalid)
        {
            RejectHandshake(id, hs, error);
            return;
        }
        // The line is complete: what followed it is stream data for the guest.
        byte[] rest = hs.Line.AsSpan(lineLength, hs.Length - lineLength).ToArray();
        _poll.Remove(hs.Fd);
        _handshakes.Remove(id);
        var stream = NewStream(hs.Fd, VirtioVsockType.Stream, pending: rest);
        hs.Fd = -1;  // the stream's now (and the handshake's timer is void)
        if (!ConnectToGuest(port, stream, nowMs, out _))
        {
            _counters.HandshakesRejected++;
            _log.Warn($"hybrid socket: CONNECT {port} refused: connection limit or no free host port");
            stream.Close();
        }
    }

    private void RejectHandshake(uint id, Handshake hs, string why)
    {
        _counters.HandshakesRejected++;
        _log.Warn($"hybrid socket: client closed: {why}");
        _handshakes.Remove(id);
        CloseHandshake(hs);
    }

    private void CloseHandshake(Handshake hs)
    {
        if (hs.Fd < 0) return;
        _poll.Remove(hs.Fd);
        Libc.Close(hs.Fd);
        hs.Fd = -1;
    }
}
