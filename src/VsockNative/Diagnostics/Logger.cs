using System;

namespace VsockNative.Diagnostics;

/// <summary>Log levels: a sink receives the lines at or below the level it asked for (the C values
/// are the VSN_LOG_* defines).</summary>
internal static class LogLevel
{
    /// <summary>Something failed: a rejected argument, a broken device.</summary>
    public const int Error = 0;
    /// <summary>Something the guest or a peer did wrong that was handled (dropped, reset).</summary>
    public const int Warn = 1;
    /// <summary>Lifecycle: device created, started, stopped.</summary>
    public const int Info = 2;
    /// <summary>Per-connection detail.</summary>
    public const int Debug = 3;
}

/// <summary>Delivers log lines to a sink (the program's C callback, handed down by the interop layer)
/// or nowhere. One per device, plus a process-wide one for messages that belong to no device (a
/// rejected vsn_device_create, an unknown handle).</summary>
internal sealed class Logger
{
    private readonly Action<int, string>? _sink;
    private readonly int _maxLevel;

    public Logger(Action<int, string>? sink, int maxLevel)
    {
        _sink = sink;
        _maxLevel = maxLevel;
    }

    public static Logger None { get; } = new(null, -1);

    /// <summary>Process-wide logger, set by vsn_set_log_callback.</summary>
    public static volatile Logger Global = None;

    public bool Enabled(int level) => _sink is not null && level <= _maxLevel;

    public void Write(int level, string message)
    {
        if (!Enabled(level)) return;
        try { _sink!(level, message); }
        catch (Exception) { /* a sink must not throw across C; nothing to do */ }
    }

    public void Error(string message) => Write(LogLevel.Error, message);
    public void Warn(string message) => Write(LogLevel.Warn, message);
    public void Info(string message) => Write(LogLevel.Info, message);
}
