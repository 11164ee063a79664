using VsockNative.Diagnostics;
namespace VsockNative.Interop;

/// <summary>Receives the library's log lines. <c>user</c> is the pointer given with the callback,
/// <c>level</c> one of VSN_LOG_*, <c>message</c> a NUL-terminated UTF-8 line without newline, valid only
/// during the call. Called from the thread that hit the event (an ABI caller or the device's event loop).
/// It may hold the device's lock: from inside it, call only vsn_queue_notify and the getters
/// (status, counters, connections) of that device.</summary>
[CSection(AbiSection.Library, 3)]
[CCallback("vsn_log_fn", "user", "level", "message")]
internal unsafe struct LogCallback
{
    public delegate* unmanaged<void*, int, sbyte*, void> Fn;
}

/// <summary>Log levels (VSN_LOG_*): a callback receives the lines at or below the level it asked for.</summary>
[CSection(AbiSection.Library, 2)]
internal static class LogLevelDefines
{
    /// <summary>Something failed: a rejected argument, a broken device.</summary>
    [CDefine("VSN_LOG_ERROR")] public const int Error = Diagnostics.LogLevel.Error;
    /// <summary>Something the guest or a peer did wrong that was handled (dropped, reset).</summary>
    [CDefine("VSN_LOG_WARN")] public const int Warn = Diagnostics.LogLevel.Warn;
    /// <summary>Lifecycle: device created, started, stopped.</summary>
    [CDefine("VSN_LOG_INFO")] public const int Info = Diagnostics.LogLevel.Info;
    /// <summary>Per-connection detail.</summary>
    [CDefine("VSN_LOG_DEBUG")] public const int Debug = Diagnostics.LogLevel.Debug;
}

/// <summary>A C log callback as a log sink: each line encoded as NUL-terminated UTF-8 for the call.</summary>
internal static unsafe class CLogSink
{
    /// <summary>A logger that writes to <paramref name="fn"/> (none when it is NULL).</summary>
    public static Diagnostics.Logger Create(LogCallback fn, nint user, int maxLevel) =>
        fn.Fn == null ? new Diagnostics.Logger(null, maxLevel) : new Diagnostics.Logger((level, message) => Write(fn, user, level, message), maxLevel);

    private static void Write(LogCallback fn, nint user, int level, string message)
    {
        int max = System.Text.Encoding.UTF8.GetMaxByteCount(message.Length) + 1;
        System.Span<byte> buffer = max <= 1024 ? stackalloc byte[max] : new byte[max];
        int n = System.Text.Encoding.UTF8.GetBytes(message, buffer);
        buffer[n] = 0;
        fixed (byte* p = buffer) fn.Fn((void*)user, level, (sbyte*)p);
    }
}
