using System;
using VsockNative.Wire;

namespace VsockNative.Protocol;

/// <summary>
/// A host message stream whose current message can be taken in pieces: it stays where it is (a
/// direct link's ring) until its last piece was taken, so a message larger than one rx buffer goes to
/// the guest without a copy into the connection's own buffer (<see cref="HostMessageBuffer"/>).
/// </summary>
public interface IHostMessagePieces
{
    /// <summary>Copies the next bytes of the current message into <paramref name="into"/> (at most its
    /// length; the caller peeked the message's size first) and returns how many;
    /// <paramref name="endOfMessage"/> when they were its last (<paramref name="endOfRecord"/>: the
    /// sender marked a record end). A negative value as <see cref="IHostMessageStream.PeekMessage"/>.</summary>
    long ReceivePiece(ReadOnlySpan<IoVec> into, out bool endOfMessage, out bool endOfRecord);
}
