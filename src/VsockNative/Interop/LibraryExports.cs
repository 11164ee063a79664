using System;
using System.Runtime.InteropServices;
using VsockNative.Diagnostics;

namespace VsockNative.Interop;

/// <summary>Exports that concern the library as a whole.</summary>
internal static unsafe class LibraryExports
{
    /// <summary>The ABI version of the loaded library, (major &lt;&lt; 16) | minor; compare its major with
    /// VSN_ABI_VERSION_MAJOR.
    /// Threads: any thread.</summary>
    /// <returns>The version.</returns>
    [UnmanagedCallersOnly(EntryPoint = "vsn_abi_version")]
    [CSection(AbiSection.Library, 1)]
    public static uint AbiVersionNumber() => AbiVersion.Value;

    /// <summary>Sets the process-wide log callback, which receives the lines that belong to no device
    /// (rejected vsn_device_create arguments, unknown handles).
    /// Threads: any thread (the callback is swapped atomically; a line being written may still reach the old one).</summary>
    /// <param name="fn">The callback, or NULL to log nothing.</param>
    /// <param name="user">Passed to fn as its first argument.</param>
    /// <param name="max_level">Highest VSN_LOG_* level delivered.</param>
    /// <returns>0, or -EINVAL for a level outside VSN_LOG_ERROR..VSN_LOG_DEBUG.</returns>
    [UnmanagedCallersOnly(EntryPoint = "vsn_set_log_callback")]
    [CSection(AbiSection.Library, 2)]
    public static int SetLogCallback(LogCallback fn, void* user, int max_level)
    {
        try
        {
            if (max_level < LogLevel.Error || max_level > LogLevel.Debug)
                return Abi.Reject(Logger.Global, "vsn_set_log_callback", -Errno.EINVAL, $"max_level {max_level} is not a VSN_LOG_* level");
            Logger.Global = CLogSink.Create(fn, (nint)user, max_level);
            return 0;
        }
        catch (Exception e) { return Abi.Crash("vsn_set_log_callback", e); }
    }
}
