namespace VsockNative.Interop;

/// <summary>Receives the library's log lines. <c>user</c> is the pointer given with the callback,
/// <c>level</c> one of VSN_LOG_*, <c>message</c> a NUL-terminated UTF-8 line without newline, valid only
/// during the call. Called from the thread that hit the event (an ABI caller or the device's event loop).
/// It may hold the device's lock: from inside it, call only vsn_queue_notify and the getters
/// (status, counters, connections) of that device.</summary>
[CCallback("vsn_log_fn", "user", "level", "message")]
internal unsafe struct LogCallback
{
    public delegate* unmanaged<void*, int, sbyte*, void> Fn;
}

/// <summary>Log levels (VSN_LOG_*): a callback receives the lines at or below the level it asked for.</summary>
internal static class LogLevel
{
    /// <summary>Something failed: a rejected argument, a broken device.</summary>
    [CDefine("VSN_LOG_ERROR")] public const int Error = 0;
    /// <summary>Something the guest or a peer did wrong that was handled (dropped, reset).</summary>
    [CDefine("VSN_LOG_WARN")] public const int Warn = 1;
    /// <summary>Lifecycle: device created, started, stopped.</summary>
    [CDefine("VSN_LOG_INFO")] public const int Info = 2;
    /// <summary>Per-connection detail.</summary>
    [CDefine("VSN_LOG_DEBUG")] public const int Debug = 3;
}
