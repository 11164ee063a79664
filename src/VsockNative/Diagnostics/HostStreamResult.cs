namespace VsockNative.Diagnostics;

/// <summary>Return values of <c>IHostStream</c> the connection interprets.</summary>
public static class HostStreamResult
{
    /// <summary>-EAGAIN (Linux errno 11): nothing could be read or written now.</summary>
    public const long WouldBlock = -11;

    /// <summary>No more messages: the peer shut its sending side (message streams only, where a
    /// read of 0 bytes is an empty message, not the end).</summary>
    public const long EndOfStream = long.MinValue;
}
