using System;
using VsockNative.Connections;
using VsockNative.EventLoop;
using VsockNative.Protocol;
using VsockNative.Wire;
using VsockNative.Diagnostics;
using VsockNative.Interop.Native;

namespace VsockNative.Endpoints;

/// <summary>
/// The host side of one connection over a non-blocking socket fd, which it owns. Two extras for the
/// hybrid-vsock socket: bytes the handshake already took off the socket after the CONNECT line are
/// handed out first (nothing the client sent is swallowed), and a greeting ("OK &lt;port&gt;\n") goes out
/// before any stream data. Close deregisters the fd from the event loop before closing it, so a
/// reused fd number is never confused with this one.
/// </summary>
internal sealed class FdStream : IHostMessageStream
{
    private readonly IPollRegistry? _poll;
    private byte[]? _pending;
    private int _pendingOffset;
    private byte[]? _greeting;
    private int _greetingOffset;
    private readonly PinnedRental _ahead = new();
    private int _aheadOffset;
    private int _aheadCount;
    private long _deferredResult;
    private bool _filling;

    public FdStream(int fd, IPollRegistry? poll, byte[]? pending = null)
    {
        Fd = fd;
        _poll = poll;
        _pending = pending is { Length: > 0 } ? pending : null;
    }

    /// <summary>A closed stream made new over <paramref name="fd"/>, as the constructor makes it (the
    /// muxer reuses the stream of a freed connection): nothing of the previous fd is left.</summary>
    public void Reopen(int fd, byte[]? pending = null, bool framed = false)
    {
        if (Fd >= 0) throw new InvalidOperationException("only a closed stream can be reopened");
        Fd = fd;
        Registered = false;
        _pending = pending is { Length: > 0 } ? pending : null;
        _pendingOffset = 0;
        _greeting = null;
        _greetingOffset = 0;
        _greetingLength = 0;
        if (_greetingBuffer is not null) Array.Clear(_greetingBuffer);  // kept, holding nothing
        _ahead.Return();
        _aheadOffset = 0;
        _aheadCount = 0;
        _deferredResult = 0;
        _filling = false;
        _framed = framed;
    }

    public int Fd { get; private set; }

    /// <summary>Whether the fd is registered with the event loop (managed by the muxer).</summary>
    public bool Registered { get; set; }

    /// <summary>Bytes received during the handshake that no Read has returned yet.</summary>
    public bool HasPendingInput => _pending is not null && _pendingOffset < _pending.Length;

    /// <summary>Queues bytes to send before any stream data (copied into an array the stream keeps,
    /// also when it is reopened: a greeting costs no allocation once the stream has sent one).</summary>
    public void SetGreeting(ReadOnlySpan<byte> greeting)
    {
        if (_greetingBuffer is null || _greetingBuffer.Length < greeting.Length) _greetingBuffer = new byte[Math.Max(greeting.Length, 16)];
        greeting.CopyTo(_greetingBuffer);
        _greetingLength = greeting.Length;
        _greeting = _greetingBuffer;
        _greetingOffset = 0;
    }

    private byte[]? _greetingBuffer;
    private int _greetingLength;

    /// <summary>Sends what is left of the greeting: 0 when it is all out, <see cref="HostStreamResult.WouldBlock"/>
    /// while some is left, or the negative errno that stopped it (EPIPE: the client shut its read side
    /// or left). An error is final for writing: <see cref="Write"/> reports it, so the connection sees a
    /// host write error instead of a greeting it would retry forever on a writable fd.</summary>
    public long FlushGreeting()
    {
        if (_greeting is null) return 0;
        if (Fd < 0) return -Errno.EBADF;
        long n = SocketCalls.Send(Fd, _greeting.AsSpan(_greetingOffset, _greetingLength - _greetingOffset));
        if (n < 0) return n;
        _greetingOffset += (int)n;
        if (_greetingOffset < _greetingLength) return HostStreamResult.WouldBlock;
        _greeting = null;
        return 0;
    }

    public long Write(ReadOnlySpan<IoVec> data)
    {
        if (Fd < 0) return -Errno.EBADF;
        long greeting = FlushGreeting();
        if (greeting != 0) return greeting;
        return SocketCalls.Send(Fd, data);
    }

    /// <summary>The most bytes read ahead of the buffer being filled (one rented array, held only
    /// while it holds bytes).</summary>
    public const int ReadAheadCapacity = 64 * 1024;

    /// <summary>Bytes read ahead that no read has handed out yet.</summary>
    public int ReadAheadCount => _aheadCount;

    /// <summary>Whether an array is rented for reading ahead (for tests: none while nothing is read ahead).</summary>
    public bool HoldsReadAheadArray => _ahead.Array is not null;

    /// <summary>readv with read-ahead: bytes read ahead before are handed out first; a socket read
    /// then fills what is left of <paramref name="into"/> and up to <paramref name="readAhead"/> bytes
    /// (at most <see cref="ReadAheadCapacity"/>) more in the same call, once a read filled its whole
    /// buffer (the stream is moving bulk data). An end of stream or an error
    /// met behind bytes already handed out is reported by the next read, so nothing is reordered.</summary>
    public long Read(ReadOnlySpan<IoVec> into, ulong readAhead)
    {
        if (Fd < 0) return -Errno.EBADF;
        if (HasPendingInput) return ReadPending(into);
        if (_deferredResult != 0) return TakeDeferredResult();
        ulong room = ScatterIo.TotalLength(into);
        if (room == 0) return 0;
        long taken = 0;
        if (_aheadCount > 0)
        {
            taken = TakeReadAhead(into, room);
            if (_aheadCount > 0 || (ulong)taken == room) return taken;
        }
        ulong want = room - (ulong)taken;
        // Read ahead only while the socket fills whole buffers (a bulk stream): a request/response
        // stream of small messages never rents the array.
        int ahead = _filling && want < ReadAheadCapacity && into.Length < StackVecs
            ? (int)Math.Min(readAhead, ReadAheadCapacity) : 0;
        long n;
        if (taken == 0 && ahead == 0)
        {
            n = SocketCalls.Receive(Fd, into);  // a plain readv: the caller's list as it is
        }
        else if (into.Length >= StackVecs)
        {
            return taken;  // no room to describe the rest of the buffer: the next read takes it
        }
        else
        {
            Span<IoVec> vecs = stackalloc IoVec[StackVecs];
            int count = IoVecRange.Take(into, (ulong)taken, want, vecs);
            if (ahead > 0)
            {
                if (_ahead.Array is null) _ahead.Rent(ReadAheadCapacity);
                vecs[count++] = new IoVec(_ahead.Address, (nuint)ahead);
            }
            n = SocketCalls.Receive(Fd, vecs[..count]);
            if (n > (long)want)
            {
                _aheadOffset = 0;
                _aheadCount = (int)(n - (long)want);
                return taken + (long)want;
            }
        }
        _filling = n == (long)want;
        _ahead.Return();  // nothing is read ahead any more: an idle stream holds no array
        if (n > 0) return taken + n;
        if (taken == 0) return n;
        if (n != HostStreamResult.WouldBlock) _deferredResult = n == 0 ? EndOfStream : n;
        return taken;
    }

    private const int StackVecs = 65;
    private const long EndOfStream = long.MinValue;

    private long TakeReadAhead(ReadOnlySpan<IoVec> into, ulong room)
    {
        int n = (int)Math.Min(room, (ulong)_aheadCount);
        ScatterIo.Scatter(into, 0, _ahead.Array!.AsSpan(_aheadOffset, n));
        _aheadOffset += n;
        _aheadCount -= n;
        if (_aheadCount == 0)
        {
            _aheadOffset = 0;
            _ahead.Return();
        }
        return n;
    }

    private long TakeDeferredResult()
    {
        long r = _deferredResult == EndOfStream ? 0 : _deferredResult;
        if (r != 0) _deferredResult = 0; // an errno is reported once, like a socket's; the end stays
        return r;
    }

    public long Read(ReadOnlySpan<IoVec> into) => Read(into, 0);

    /// <summary>The bytes the handshake took off the socket after the CONNECT line, before any other.</summary>
    private long ReadPending(ReadOnlySpan<IoVec> into)
    {
        ulong room = ScatterIo.TotalLength(into);
        int n = (int)Math.Min(room, (ulong)(_pending!.Length - _pendingOffset));
        ScatterIo.Scatter(into, 0, _pending.AsSpan(_pendingOffset, n));
        _pendingOffset += n;
        if (_pendingOffset == _pending.Length) _pending = null;
        return n;
    }

    /// <summary>A link between two devices (a sibling route over a SOCK_SEQPACKET pair): every message
    /// carries one leading flags byte (<see cref="FrameEor"/>), since AF_UNIX does not carry MSG_EOR.</summary>
    public bool FramedRecords { get => _framed; init => _framed = value; }

    private bool _framed;

    /// <summary>The leading byte of a framed message: the record ends with it (VIRTIO_VSOCK_SEQ_EOR).</summary>
    public const byte FrameEor = 1;

    public long SendMessage(ReadOnlySpan<IoVec> data, bool endOfRecord)
    {
        if (Fd < 0) return -Errno.EBADF;
        long greeting = FlushGreeting();
        if (greeting != 0) return greeting;
        return FramedRecords
            ? SocketCalls.SendFramedMessage(Fd, endOfRecord ? FrameEor : (byte)0, data)
            : SocketCalls.SendMessage(Fd, data, endOfRecord);
    }

    public long PeekMessage()
    {
        if (Fd < 0) return -Errno.EBADF;
        long n = SocketCalls.PeekMessage(Fd);
        if (!FramedRecords || n < 0) return n;
        return n == 0 ? -Errno.EPROTO : n - 1;  // a framed message is never empty
    }

    public long ReceiveMessage(ReadOnlySpan<IoVec> into, out bool endOfRecord)
    {
        endOfRecord = false;
        if (Fd < 0) return -Errno.EBADF;
        if (!FramedRecords) return SocketCalls.ReceiveMessage(Fd, into, out endOfRecord);
        long n = SocketCalls.ReceiveFramedMessage(Fd, into, out byte frame);
        endOfRecord = n >= 0 && (frame & FrameEor) != 0;
        return n;
    }

    public int Shutdown(bool read, bool write)
    {
        if (Fd < 0 || (!read && !write)) return 0;
        return SocketCalls.Shutdown(Fd, read && write ? SocketCalls.SHUT_RDWR : read ? SocketCalls.SHUT_RD : SocketCalls.SHUT_WR);
    }

    /// <summary>Deregisters and closes the fd; safe to call twice.</summary>
    public void Close()
    {
        if (Fd < 0) return;
        if (Registered) _poll?.Remove(Fd);
        Registered = false;
        Libc.Close(Fd);
        Fd = -1;
        _aheadCount = 0;
        _ahead.Return();
    }
}
