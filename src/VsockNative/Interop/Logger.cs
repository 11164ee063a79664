using System;
using System.Text;

namespace VsockNative.Interop;

/// <summary>Delivers log lines to a C callback (or nowhere). One per device, plus a process-wide one
/// for messages that belong to no device (a rejected vsn_device_create, an unknown handle).</summary>
internal sealed unsafe class Logger
{
    private readonly LogCallback _callback;
    private readonly nint _user;
    private readonly int _maxLevel;

    public Logger(LogCallback callback, nint user, int maxLevel)
    {
        _callback = callback;
        _user = user;
        _maxLevel = maxLevel;
    }

    public static Logger None { get; } = new(default, 0, -1);

    /// <summary>Process-wide logger, set by vsn_set_log_callback.</summary>
    public static volatile Logger Global = None;

    public bool Enabled(int level) => _callback.Fn != null && level <= _maxLevel;

    public void Write(int level, string message)
    {
        if (!Enabled(level)) return;
        int max = Encoding.UTF8.GetMaxByteCount(message.Length) + 1;
        Span<byte> buffer = max <= 1024 ? stackalloc byte[max] : new byte[max];
        int n = Encoding.UTF8.GetBytes(message, buffer);
        buffer[n] = 0;
        fixed (byte* p = buffer)
        {
            try { _callback.Fn((void*)_user, level, (sbyte*)p); }
            catch (Exception) { /* a callback must not throw across C; nothing to do */ }
        }
    }

    public void Error(string message) => Write(LogLevel.Error, message);
    public void Warn(string message) => Write(LogLevel.Warn, message);
    public void Info(string message) => Write(LogLevel.Info, message);
}
