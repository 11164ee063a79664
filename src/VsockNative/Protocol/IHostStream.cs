using System;
using VsockNative.Wire;
using VsockNative.Diagnostics;

namespace VsockNative.Protocol;

/// <summary>
/// The host side of one connection: a non-blocking socket in production, a scripted double in tests.
/// Every call returns at once. The connection calls it only from the thread that drives the
/// connection; after <see cref="Close"/> it calls nothing else.
/// </summary>
public interface IHostStream
{
    /// <summary>Like writev: bytes accepted (&gt; 0, at most the total length),
    /// <see cref="HostStreamResult.WouldBlock"/> if none could be taken now, any other negative errno
    /// when the stream is broken (-EPIPE, -ECONNRESET...).</summary>
    long Write(ReadOnlySpan<IoVec> data);

    /// <summary>Like readv: bytes read (&gt; 0, at most the total length), 0 at end of stream,
    /// <see cref="HostStreamResult.WouldBlock"/> if nothing is there now, any other negative errno
    /// when the stream is broken.</summary>
    long Read(ReadOnlySpan<IoVec> into);

    /// <summary>As <see cref="Read(ReadOnlySpan{IoVec})"/>, but the stream may take up to
    /// <paramref name="readAhead"/> more bytes off its source in the same call and hand them out on
    /// the next reads, so one readv fills several small rx buffers. Bytes read ahead are the
    /// stream's until a read hands them out (a close drops them, as it drops what the socket holds).
    /// A stream that cannot read ahead ignores the hint.</summary>
    long Read(ReadOnlySpan<IoVec> into, ulong readAhead) => Read(into);

    /// <summary>shutdown(2) of one or both directions; 0 or a negative errno (the connection only
    /// counts a failure).</summary>
    int Shutdown(bool read, bool write);

    /// <summary>Releases the stream (close(2)). Called exactly once per connection.</summary>
    void Close();
}
