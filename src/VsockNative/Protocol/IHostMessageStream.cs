using System;
using VsockNative.Wire;
using VsockNative.Diagnostics;

namespace VsockNative.Protocol;

/// <summary>
/// The host side of one SEQPACKET connection: a stream that also keeps message boundaries (a
/// non-blocking AF_UNIX SOCK_SEQPACKET socket in production, a scripted double in tests). The
/// stream calls of <see cref="IHostStream"/> are still used for shutdown and close.
/// </summary>
public interface IHostMessageStream : IHostStream
{
    /// <summary>Sends one whole message (sendmsg on a SOCK_SEQPACKET socket is all or nothing):
    /// the total length when it was taken, <see cref="HostStreamResult.WouldBlock"/> when it cannot
    /// be taken now, -EMSGSIZE when the socket can never take a message this large, any other
    /// negative errno when the stream is broken.</summary>
    /// <param name="data">The message bytes.</param>
    /// <param name="endOfRecord">The guest marked a record end (VIRTIO_VSOCK_SEQ_EOR): passed as MSG_EOR.</param>
    long SendMessage(ReadOnlySpan<IoVec> data, bool endOfRecord);

    /// <summary>The length of the next message without taking it (&gt;= 0; an empty message is 0),
    /// <see cref="HostStreamResult.WouldBlock"/> when none is there, <see cref="HostStreamResult.EndOfStream"/>
    /// when the peer will send no more, any other negative errno when the stream is broken.</summary>
    long PeekMessage();

    /// <summary>Takes the next message into <paramref name="into"/>: returns its real length (larger
    /// than <paramref name="into"/> holds when it was truncated), or a negative value as <see cref="PeekMessage"/>.</summary>
    /// <param name="into">Where the message goes.</param>
    /// <param name="endOfRecord">The host marked a record end (MSG_EOR in msg_flags).</param>
    long ReceiveMessage(ReadOnlySpan<IoVec> into, out bool endOfRecord);
}
