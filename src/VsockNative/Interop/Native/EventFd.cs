using VsockNative.Diagnostics;
namespace VsockNative.Interop.Native;

/// <summary>eventfd helpers: signal (add 1) and drain (read the counter, non-blocking).</summary>
internal static unsafe class EventFd
{
    /// <summary>A new non-blocking eventfd, or a negative errno.</summary>
    public static int Create()
    {
        int fd = Libc.EventFd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK);
        return fd < 0 ? -Libc.LastErrno : fd;
    }

    /// <summary>Adds one to the counter; 0 or a negative errno. EAGAIN (counter saturated) counts as
    /// success: the reader is already due to wake.</summary>
    public static int Signal(int fd)
    {
        ulong one = 1;
        SyscallCount.EventFdWrite();
        if (Libc.Write(fd, &one, 8) == 8) return 0;
        int errno = Libc.LastErrno;
        return errno == Libc.EAGAIN ? 0 : -errno;
    }

    /// <summary>Reads and clears the counter; returns it, 0 when nothing was pending.</summary>
    public static ulong Drain(int fd)
    {
        ulong value = 0;
        SyscallCount.EventFdRead();
        return Libc.Read(fd, &value, 8) == 8 ? value : 0;
    }

    /// <summary>Whether <paramref name="fd"/> is an eventfd (its /proc link reads "anon_inode:[eventfd]").
    /// A kick fd must be one: a pipe or socket whose peer closed reports HUP for ever and would
    /// wake the loop without end.</summary>
    public static bool IsEventFd(int fd)
    {
        try
        {
            return new System.IO.FileInfo($"/proc/self/fd/{fd}").LinkTarget == "anon_inode:[eventfd]";
        }
        catch (System.IO.IOException) { return false; }
        catch (System.UnauthorizedAccessException) { return false; }
    }

    /// <summary>Duplicates a caller's fd (close-on-exec) and makes the copy non-blocking, so the
    /// device owns its copy; returns the new fd or a negative errno.</summary>
    public static int DupNonBlocking(int fd)
    {
        int copy = Libc.Fcntl(fd, Libc.F_DUPFD_CLOEXEC, 3);
        if (copy < 0) return -Libc.LastErrno;
        int flags = Libc.Fcntl(copy, Libc.F_GETFL, 0);
        if (flags < 0 || Libc.Fcntl(copy, Libc.F_SETFL, flags | Libc.O_NONBLOCK) < 0)
        {
            int errno = Libc.LastErrno;
            Libc.Close(copy);
            return -errno;
        }
        return copy;
    }
}
