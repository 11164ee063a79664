using System;
using System.Buffers;
using System.Threading;
using VsockNative.Wire;

namespace VsockNative.Connections;

/// <summary>
/// One direction of a sibling link (<see cref="SiblingLink"/>): a bounded single-producer /
/// single-consumer ring of bytes and, for seqpacket, a ring of message records (length and EOR).
/// The producer is the sending connection's device: it copies from its own guest's tx buffers into
/// the ring. The consumer is the receiving connection's device: it copies out into its own guest's
/// rx buffers. Neither ever touches the other's guest memory, so either guest's memory may be
/// unmapped by its own control plane at any time. Two copies, no lock, no system call.
/// <para>Memory order. Positions are free-running 64-bit counters, each written by one side only:</para>
/// <list type="bullet">
/// <item><c>_written</c>, <c>_messagesWritten</c> (producer): stored with Volatile.Write
/// after the bytes (and the record) are in the ring, so they are published (release); the consumer reads
/// them with Volatile.Read before it copies the bytes out (acquire). Pairs:
/// producer's store in <see cref="Write"/> / <see cref="TryWriteMessage"/> with the consumer's load in
/// <see cref="Read"/> / <see cref="PeekMessage"/>.</item>
/// <item><c>_read</c>, <c>_messagesRead</c> (consumer): stored with Volatile.Write once the bytes were
/// copied out (release: the producer never overwrites bytes still being read); the producer reads them
/// with Volatile.Read before it reuses their room (acquire). Pairs: consumer's store in Read /
/// <see cref="ReadMessage"/> / <see cref="ReadPiece"/> with the producer's load in <see cref="Room"/>
/// and <see cref="Fits"/>.</item>
/// </list>
/// The arrays are rented from the shared pools for the link's lifetime and given back by
/// <see cref="Return"/> once both ends let go (never while either side may still touch them).
/// </summary>
internal sealed class LinkPipe
{
    /// <summary>Complete messages a seqpacket pipe holds at most (as a connection's own queue).</summary>
    public const int MessageCapacity = Protocol.MessageQueue.Capacity;

    private readonly int _capacity;
    private byte[]? _ring;
    /// <summary>Seqpacket records: the length in the low 32 bits, EOR in bit 32.</summary>
    private ulong[]? _messages;
    private long _written;
    private long _read;
    private long _messagesWritten;
    private long _messagesRead;
    /// <summary>Bytes of the current message already taken in pieces (consumer only).</summary>
    private int _pieceTaken;

    public LinkPipe(int capacity, bool messages)
    {
        _capacity = capacity;
        _ring = ArrayPool<byte>.Shared.Rent(capacity);
        _messages = messages ? ArrayPool<ulong>.Shared.Rent(MessageCapacity) : null;
    }

    /// <summary>Bytes the ring holds at most.</summary>
    public int Capacity => _capacity;

    // ---- Producer side ----

    /// <summary>Free bytes (producer).</summary>
    public long Room => _capacity - (_written - Volatile.Read(ref _read));

    /// <summary>Bytes written that the consumer has not taken yet (producer).</summary>
    public long Unconsumed => _written - Volatile.Read(ref _read);

    /// <summary>Whether a write of <paramref name="need"/> bytes (a message of that size for seqpacket)
    /// would be taken now (producer).</summary>
    public bool Fits(long need) =>
        Room >= need && (_messages is null || _messagesWritten - Volatile.Read(ref _messagesRead) < MessageCapacity);

    /// <summary>Copies as much of <paramref name="source"/> as fits; returns the bytes taken.</summary>
    public int Write(ReadOnlySpan<IoVec> source)
    {
        int n = (int)Math.Min(ScatterIo.TotalLength(source), (ulong)Room);
        if (n == 0) return 0;
        CopyIn(source, n);
        Volatile.Write(ref _written, _written + n);  // publishes the bytes (release)
        return n;
    }

    /// <summary>Copies one whole message of <paramref name="length"/> bytes with its EOR flag, or
    /// nothing when it does not fit now (the caller checked it can ever fit: length &lt;= Capacity).</summary>
    public bool TryWriteMessage(ReadOnlySpan<IoVec> source, int length, bool eor)
    {
        if (!Fits(length)) return false;
        CopyIn(source, length);
        _messages![_messagesWritten % MessageCapacity] = (uint)length | (eor ? 1ul << 32 : 0);
        Volatile.Write(ref _written, _written + length);
        Volatile.Write(ref _messagesWritten, _messagesWritten + 1);  // publishes bytes and record (release)
        return true;
    }

    private void CopyIn(ReadOnlySpan<IoVec> source, int n)
    {
        int at = (int)(_written % _capacity);
        int first = Math.Min(n, _capacity - at);
        ScatterIo.Gather(source, 0, _ring!.AsSpan(at, first));
        if (n > first) ScatterIo.Gather(source, first, _ring!.AsSpan(0, n - first));
    }

    // ---- Consumer side ----

    /// <summary>Free bytes as the consumer sees them (at least the producer's view: bytes written since
    /// are not counted yet, so the producer, which decides, may find less).</summary>
    public long RoomSeenByReader => _capacity - (Volatile.Read(ref _written) - _read);

    /// <summary>Whether bytes (stream) or a complete message (seqpacket) wait (consumer).</summary>
    public bool HasData => _messages is null
        ? Volatile.Read(ref _written) != _read
        : Volatile.Read(ref _messagesWritten) != _messagesRead;

    /// <summary>Copies up to the length of <paramref name="into"/>; returns the bytes taken (0: none there).</summary>
    public int Read(ReadOnlySpan<IoVec> into)
    {
        long available = Volatile.Read(ref _written) - _read;  // acquire: the bytes below are there
        int n = (int)Math.Min((ulong)available, ScatterIo.TotalLength(into));
        if (n == 0) return 0;
        CopyOut(into, n);
        Volatile.Write(ref _read, _read + n);  // the room is free again (release)
        return n;
    }

    /// <summary>The length of the next complete message, or -1 when none is there.</summary>
    public long PeekMessage() =>
        Volatile.Read(ref _messagesWritten) == _messagesRead ? -1 : (uint)_messages![_messagesRead % MessageCapacity];

    /// <summary>Takes the next piece of the current message (what fits <paramref name="into"/>); its
    /// bytes' room is free at once, the record when the last piece was taken (<paramref name="end"/>).
    /// Returns the bytes taken, or -1 when no message is there.</summary>
    public long ReadPiece(ReadOnlySpan<IoVec> into, out bool end, out bool eor)
    {
        end = eor = false;
        if (Volatile.Read(ref _messagesWritten) == _messagesRead) return -1;  // acquire: record and bytes
        ulong record = _messages![_messagesRead % MessageCapacity];
        int left = (int)(uint)record - _pieceTaken;
        int n = (int)Math.Min((ulong)left, ScatterIo.TotalLength(into));
        CopyOut(into, n);
        Volatile.Write(ref _read, _read + n);  // the piece's room is free again (release)
        end = n == left;
        eor = end && (record >> 32) != 0;
        _pieceTaken = end ? 0 : _pieceTaken + n;
        if (end) Volatile.Write(ref _messagesRead, _messagesRead + 1);
        return n;
    }

    /// <summary>Takes the next message: copies what fits <paramref name="into"/> (the rest is discarded,
    /// as recvmsg truncates) and returns its real length, or -1 when none is there. Not after a piece
    /// of it was taken (<see cref="ReadPiece"/>).</summary>
    public long ReadMessage(ReadOnlySpan<IoVec> into, out bool eor)
    {
        eor = false;
        if (Volatile.Read(ref _messagesWritten) == _messagesRead) return -1;  // acquire: record and bytes
        ulong record = _messages![_messagesRead % MessageCapacity];
        int length = (int)(uint)record;
        eor = (record >> 32) != 0;
        CopyOut(into, (int)Math.Min((ulong)length, ScatterIo.TotalLength(into)));
        Volatile.Write(ref _read, _read + length);
        Volatile.Write(ref _messagesRead, _messagesRead + 1);  // record and room free again (release)
        return length;
    }

    private void CopyOut(ReadOnlySpan<IoVec> into, int n)
    {
        if (n == 0) return;
        int at = (int)(_read % _capacity);
        int first = Math.Min(n, _capacity - at);
        ScatterIo.Scatter(into, 0, _ring!.AsSpan(at, first));
        if (n > first) ScatterIo.Scatter(into, first, _ring!.AsSpan(0, n - first));
    }

    /// <summary>Gives the arrays back (once both ends let go: nobody touches the pipe any more).</summary>
    public void Return()
    {
        if (_ring is { } ring) ArrayPool<byte>.Shared.Return(ring);
        if (_messages is { } messages) ArrayPool<ulong>.Shared.Return(messages);
        _ring = null;
        _messages = null;
    }
}
