namespace VsockNative.Diagnostics;

/// <summary>Linux errno values; ABI functions return 0 (or a count) on success, <c>-Errno.X</c> on failure.</summary>
internal static class Errno
{
    public const int E2BIG = 7;
    public const int EBADF = 9;
    public const int ENOMEM = 12;
    public const int EFAULT = 14;
    public const int EBUSY = 16;
    public const int EINVAL = 22;
    public const int ERANGE = 34;
    public const int ENOTSUP = 95;
    public const int EPROTO = 71;
    public const int EMSGSIZE = 90;
    public const int EIO = 5;
    public const int EAGAIN = 11;
    public const int EEXIST = 17;
    public const int ENOENT = 2;
    public const int EPIPE = 32;
    public const int ENAMETOOLONG = 36;
    public const int ECONNRESET = 104;
    public const int ECONNREFUSED = 111;
    public const int ENOBUFS = 105;
    public const int EPROTOTYPE = 91;
    public const int EADDRINUSE = 98;
    public const int ENOTCONN = 107;
    public const int EHOSTUNREACH = 113;
    public const int ENOSPC = 28;
    public const int ENFILE = 23;
    public const int EMFILE = 24;

    /// <summary>The process (or the system) has no file descriptor or memory left for a new socket:
    /// EMFILE, ENFILE, ENOBUFS, ENOMEM. It passes once fds or memory are given back.</summary>
    public static bool IsResourceShortage(int errno) => errno is EMFILE or ENFILE or ENOBUFS or ENOMEM;
}
