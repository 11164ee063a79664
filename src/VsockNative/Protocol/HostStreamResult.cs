namespace VsockNative.Protocol;

/// <summary>Return values of <see cref="IHostStream"/> the connection interprets.</summary>
public static class HostStreamResult
{
    /// <summary>-EAGAIN (Linux errno 11): nothing could be read or written now.</summary>
    public const long WouldBlock = -11;
}
