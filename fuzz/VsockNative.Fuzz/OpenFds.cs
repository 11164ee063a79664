using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;

namespace VsockNative.Fuzz;

/// <summary>
/// The process's open file descriptors, as /proc/self/fd lists them. <see cref="Count"/> is the
/// cheap, exact look taken after every input: the directory kept open, and its size read with one
/// fstat (Linux 6.2 and later give the number of open fds as the size of /proc/PID/fd), or, where
/// that size is 0, its entries counted with readdir (an lseek and two getdents64, which build a
/// dentry per fd). The .NET directory enumeration stats and lstats every entry (they are symbolic
/// links), which cost more than the device itself; <see cref="DeviceKinds"/>, which reads each
/// link's target, runs only when the count changed.
/// </summary>
internal sealed unsafe class OpenFds : IDisposable
{
    /// <summary>st_size in struct stat, on x86_64 and on aarch64 (the generic layout) alike.</summary>
    private const int StatSizeOffset = 48;
    private const string Dir = "/proc/self/fd";
    private nint _dir;
    private readonly bool _sizeIsCount;

    /// <param name="readdirOnly">Count with readdir even where fstat gives the count (the fallback, for tests).</param>
    public OpenFds(bool readdirOnly = false)
    {
        _dir = opendir(Dir);
        if (_dir == 0) throw new InvalidOperationException($"cannot open {Dir} (errno {Marshal.GetLastPInvokeError()})");
        _sizeIsCount = !readdirOnly && Size() > 0;
    }

    /// <summary>The open fds now (this reader's own included: it stays open, so the count is comparable).</summary>
    public int Count()
    {
        ObjectDisposedException.ThrowIf(_dir == 0, this);
        if (_sizeIsCount) return (int)Size();
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

    private long Size()
    {
        byte* st = stackalloc byte[256];
        if (fstat(dirfd(_dir), st) != 0) throw new InvalidOperationException($"fstat {Dir} failed (errno {Marshal.GetLastPInvokeError()})");
        return *(long*)(st + StatSizeOffset);
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

    [DllImport("libc")]
    private static extern int dirfd(nint dir);

    [DllImport("libc", SetLastError = true)]
    private static extern int fstat(int fd, byte* stat);
}
