using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;

namespace VsockNative.Fuzz;

/// <summary>
/// The process's open file descriptors, as /proc/self/fd lists them. <see cref="Count"/> is the
/// cheap, exact look taken after every input: one directory stream kept open and rewound, its
/// entries counted with readdir (an lseek and two getdents64, no per-entry syscall). The .NET
/// directory enumeration stats and lstats every entry (they are symbolic links), which cost more
/// than the device itself; <see cref="DeviceKinds"/>, which reads each link's target, runs only when
/// the count went up.
/// </summary>
internal sealed class OpenFds : IDisposable
{
    private const string Dir = "/proc/self/fd";
    private nint _dir;

    public OpenFds()
    {
        _dir = opendir(Dir);
        if (_dir == 0) throw new InvalidOperationException($"cannot open {Dir} (errno {Marshal.GetLastPInvokeError()})");
    }

    /// <summary>The open fds now (this reader's own included: it stays open, so the count is comparable).</summary>
    public int Count()
    {
        ObjectDisposedException.ThrowIf(_dir == 0, this);
        rewinddir(_dir);
        int n = 0;
        while (readdir(_dir) != 0) n++;
        return n - 2;  // "." and ".."
    }

    /// <summary>The sockets and anon inodes (epoll, eventfd, timerfd, signalfd): what the device opens;
    /// pipes and files are the runtime's (it opens a pipe pair of its own now and then, found by the long run).</summary>
    public static List<string> DeviceKinds()
    {
        var fds = new List<string>();
        foreach (var f in System.IO.Directory.GetFiles(Dir))
        {
            string? target = null;
            try { target = new System.IO.FileInfo(f).LinkTarget; }
            catch (System.IO.IOException) { }
            if (target is not null && (target.StartsWith("socket:", StringComparison.Ordinal) || target.StartsWith("anon_inode:", StringComparison.Ordinal)))
                fds.Add($"{System.IO.Path.GetFileName(f)}->{target}");
        }

        return fds;
    }

    public void Dispose()
    {
        if (_dir != 0) closedir(_dir);
        _dir = 0;
    }

    [DllImport("libc", SetLastError = true)]
    private static extern nint opendir([MarshalAs(UnmanagedType.LPUTF8Str)] string name);

    [DllImport("libc")]
    private static extern nint readdir(nint dir);

    [DllImport("libc")]
    private static extern void rewinddir(nint dir);

    [DllImport("libc")]
    private static extern int closedir(nint dir);
}
