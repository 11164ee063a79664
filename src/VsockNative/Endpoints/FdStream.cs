using System;
using VsockNative.EventLoop;
using VsockNative.Wire;

namespace VsockNative.Endpoints;

/// <summary>The host side of one connection over a non-blocking socket fd, which it owns. Bytes the
/// hybrid handshake already took off the socket after the CONNECT line (the constructor's pending bytes)
/// are handed out first, so nothing the client sent is swallowed.</summary>
internal sealed class FdStream
{
    private readonly byte[]? _pending;
    private int _pendingOffset;

    public FdStream(int fd, byte[]? pending = null)
    {
        Fd = fd;
        _pending = pending is { Length: > 0 } ? pending : null;
    }

    public int Fd { get; private set; }

    /// <summary>Bytes received during the handshake that no Read has returned yet.</summary>
    public bool HasPendingInput => _pending is not null && _pendingOffset < _pending.Length;

    public long Write(ReadOnlySpan<IoVec> data) => Fd < 0 ? -Interop.Errno.EBADF : SocketCalls.Send(Fd, data);

    public long Read(ReadOnlySpan<IoVec> into)
    {
        if (Fd < 0) return -Interop.Errno.EBADF;
        if (!HasPendingInput) return SocketCalls.Receive(Fd, into);
        ulong room = ScatterIo.TotalLength(into);
        int n = (int)Math.Min(room, (ulong)(_pending!.Length - _pendingOffset));
        ScatterIo.Scatter(into, 0, _pending.AsSpan(_pendingOffset, n));
        _pendingOffset += n;
        return n;
    }

    public int Shutdown(bool read, bool write)
    {
        if (Fd < 0 || (!read && !write)) return 0;
        return SocketCalls.Shutdown(Fd, read && write ? SocketCalls.SHUT_RDWR : read ? SocketCalls.SHUT_RD : SocketCalls.SHUT_WR);
    }

    /// <summary>Closes the fd; safe to call twice.</summary>
    public void Close()
    {
        if (Fd >= 0) Libc.Close(Fd);
        Fd = -1;
    }
}
