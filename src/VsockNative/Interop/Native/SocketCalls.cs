using VsockNative.Diagnostics;
using System;
using System.Runtime.InteropServices;
using System.Text;
using VsockNative.EventLoop;

namespace VsockNative.Interop.Native;

/// <summary>The socket calls the endpoints need (AF_UNIX, non-blocking, close-on-exec). Functions
/// return the result or a negative errno; nothing here raises SIGPIPE (sends use MSG_NOSIGNAL).</summary>
internal static unsafe partial class SocketCalls
{
    public const int AF_UNIX = 1;
    public const int SOCK_STREAM = 1;
    public const int SOCK_DGRAM = 2;
    public const int SOCK_SEQPACKET = 5;
    public const int SOCK_NONBLOCK = 0x800;
    public const int SOCK_CLOEXEC = 0x80000;
    public const int MSG_NOSIGNAL = 0x4000;
    public const int MSG_DONTWAIT = 0x40;
    public const int MSG_EOR = 0x80;
    public const int MSG_TRUNC = 0x20;
    public const int MSG_PEEK = 0x2;
    public const int SOL_SOCKET = 1;
    public const int SO_TYPE = 3;
    public const int SO_SNDBUF = 7;
    public const int SO_PASSCRED = 16;
    /// <summary>A socket's cookie: a 64-bit id the kernel never gives another socket (Linux 4.12+).</summary>
    public const int SO_COOKIE = 57;
    /// <summary>CMSG_SPACE(sizeof(struct ucred)): room for SCM_CREDENTIALS and nothing else, so file
    /// descriptors a peer passes (SCM_RIGHTS) are never installed in this process.</summary>
    private const int CredentialsSpace = 32;
    public const int SHUT_RD = 0;
    public const int SHUT_WR = 1;
    public const int SHUT_RDWR = 2;
    public const int IOV_MAX = 1024;
    /// <summary>sizeof(sockaddr_un.sun_path); a path needs one byte less (its NUL).</summary>
    public const int SunPathSize = 108;

    [StructLayout(LayoutKind.Sequential)]
    private struct MsgHdr
    {
        public void* Name;
        public uint NameLen;
        public void* Iov;
        public nuint IovLen;
        public void* Control;
        public nuint ControlLen;
        public int Flags;
    }

    [LibraryImport("libc", EntryPoint = "socket", SetLastError = true)]
    private static partial int Socket(int domain, int type, int protocol);
    [LibraryImport("libc", EntryPoint = "connect", SetLastError = true)]
    private static partial int Connect(int fd, byte* addr, uint len);
    [LibraryImport("libc", EntryPoint = "bind", SetLastError = true)]
    private static partial int Bind(int fd, byte* addr, uint len);
    [LibraryImport("libc", EntryPoint = "listen", SetLastError = true)]
    private static partial int Listen(int fd, int backlog);
    [LibraryImport("libc", EntryPoint = "accept4", SetLastError = true)]
    private static partial int Accept4(int fd, void* addr, void* len, int flags);
    [LibraryImport("libc", EntryPoint = "sendmsg", SetLastError = true)]
    private static partial nint SendMsgCall(int fd, MsgHdr* msg, int flags);
    [LibraryImport("libc", EntryPoint = "recvmsg", SetLastError = true)]
    private static partial nint RecvMsgCall(int fd, MsgHdr* msg, int flags);

    private static nint SendMsg(int fd, MsgHdr* msg, int flags)
    {
        SyscallCount.SocketWrite();
        return SendMsgCall(fd, msg, flags);
    }

    private static nint RecvMsg(int fd, MsgHdr* msg, int flags)
    {
        SyscallCount.SocketRead();
        return RecvMsgCall(fd, msg, flags);
    }
    [LibraryImport("libc", EntryPoint = "shutdown", SetLastError = true)]
    private static partial int ShutdownCall(int fd, int how);
    [LibraryImport("libc", EntryPoint = "unlink", SetLastError = true)]
    private static partial int Unlink(byte* path);
    [LibraryImport("libc", EntryPoint = "setsockopt", SetLastError = true)]
    private static partial int SetSockOpt(int fd, int level, int name, int* value, uint length);
    [LibraryImport("libc", EntryPoint = "getsockopt", SetLastError = true)]
    private static partial int GetSockOpt(int fd, int level, int name, int* value, uint* length);
    [LibraryImport("libc", EntryPoint = "socketpair", SetLastError = true)]
    private static partial int SocketPair(int domain, int type, int protocol, int* fds);

    /// <summary>The result of a call counted as "other": the value, or -errno.</summary>
    private static int Result(long rc)
    {
        SyscallCount.Other();
        return rc < 0 ? -Libc.LastErrno : (int)rc;
    }

    /// <summary>Fills a sockaddr_un; false when the path does not fit (with its NUL).</summary>
    private static bool Address(string path, Span<byte> addr, out uint length)
    {
        length = 0;
        int n = Encoding.UTF8.GetByteCount(path);
        if (n == 0 || n >= SunPathSize) return false;
        addr.Clear();
        addr[0] = AF_UNIX;
        Encoding.UTF8.GetBytes(path, addr.Slice(2));
        length = (uint)(2 + n + 1);
        return true;
    }

    /// <summary>A non-blocking connect to a Unix socket path. AF_UNIX connects complete at once, or fail
    /// at once (ECONNREFUSED, ENOENT, EAGAIN when the listener's backlog is full): it never blocks.</summary>
    public static int ConnectUnix(string path, int type)
    {
        Span<byte> addr = stackalloc byte[2 + SunPathSize];
        if (!Address(path, addr, out uint len)) return -Errno.ENAMETOOLONG;
        return ConnectUnixAddress(addr, len, type);
    }

    /// <summary>As <see cref="ConnectUnix(string, int)"/>, to "&lt;pathPrefix&gt;&lt;port&gt;" (UTF-8 bytes and a
    /// decimal port, as <see cref="PortAddress"/>): the address is built on the stack, no string.</summary>
    public static int ConnectUnix(ReadOnlySpan<byte> pathPrefix, uint port, int type)
    {
        Span<byte> addr = stackalloc byte[2 + SunPathSize];
        if (!PortAddress(pathPrefix, port, addr, out uint len)) return -Errno.ENAMETOOLONG;
        return ConnectUnixAddress(addr, len, type);
    }

    private static int ConnectUnixAddress(ReadOnlySpan<byte> addr, uint len, int type)
    {
        int fd = Socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) return -Libc.LastErrno;
        if (type == SOCK_SEQPACKET) SetInt(fd, SOL_SOCKET, SO_PASSCRED, 1);  // before any message can arrive
        fixed (byte* a = addr)
        {
            SyscallCount.Other();
            if (Connect(fd, a, len) < 0)
            {
                int errno = Libc.LastErrno;
                Libc.Close(fd);
                return -errno;
            }
        }
        return fd;
    }

    /// <summary>Binds and listens on a Unix socket path (a stale socket file is replaced).</summary>
    public static int ListenUnix(string path, int type, int backlog)
    {
        Span<byte> addr = stackalloc byte[2 + SunPathSize];
        if (!Address(path, addr, out uint len)) return -Errno.ENAMETOOLONG;
        int fd = Socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) return -Libc.LastErrno;
        fixed (byte* a = addr)
        {
            Unlink(a + 2);
            if (Bind(fd, a, len) < 0 || (type != SOCK_DGRAM && Listen(fd, backlog) < 0))
            {
                int errno = Libc.LastErrno;
                Libc.Close(fd);
                return -errno;
            }
        }
        return fd;
    }

    /// <summary>Accepts one pending connection (non-blocking, close-on-exec); -EAGAIN when none.</summary>
    public static int Accept(int listenFd) => Result(Accept4(listenFd, null, null, SOCK_NONBLOCK | SOCK_CLOEXEC));

    /// <summary>writev without SIGPIPE: sendmsg(MSG_NOSIGNAL) over at most IOV_MAX buffers.</summary>
    public static long Send(int fd, ReadOnlySpan<Wire.IoVec> data)
    {
        if (data.Length > IOV_MAX) data = data.Slice(0, IOV_MAX);
        fixed (Wire.IoVec* iov = data)
        {
            var msg = new MsgHdr { Iov = iov, IovLen = (nuint)data.Length };
            nint n = SendMsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
            return n < 0 ? -Libc.LastErrno : n;
        }
    }

    /// <summary>readv: bytes read, 0 at end of stream, or a negative errno (-EAGAIN when nothing is there).</summary>
    public static long Receive(int fd, ReadOnlySpan<Wire.IoVec> into)
    {
        if (into.Length > IOV_MAX) into = into.Slice(0, IOV_MAX);
        fixed (Wire.IoVec* iov = into)
        {
            var msg = new MsgHdr { Iov = iov, IovLen = (nuint)into.Length };
            nint n = RecvMsg(fd, &msg, MSG_DONTWAIT);
            return n < 0 ? -Libc.LastErrno : n;
        }
    }

    public static int Shutdown(int fd, int how) => Result(ShutdownCall(fd, how));

    /// <summary>setsockopt of an int option; 0 or -errno.</summary>
    public static int SetInt(int fd, int level, int name, int value) => Result(SetSockOpt(fd, level, name, &value, sizeof(int)));

    /// <summary>getsockopt of an int option: its value, or -errno.</summary>
    public static int GetInt(int fd, int level, int name)
    {
        int value = 0;
        uint length = sizeof(int);
        SyscallCount.Other();
        int rc = GetSockOpt(fd, level, name, &value, &length);
        return rc < 0 ? -Libc.LastErrno : value;
    }

    /// <summary>The socket's cookie (SO_COOKIE: unique for as long as the system runs, never reused,
    /// unlike an fd number or an inode), or -errno (ENOPROTOOPT before Linux 4.12, ENOTSOCK).</summary>
    public static long Cookie(int fd)
    {
        ulong value = 0;
        uint length = sizeof(ulong);
        SyscallCount.Other();
        int rc = GetSockOpt(fd, SOL_SOCKET, SO_COOKIE, (int*)&value, &length);
        if (rc < 0) return -Libc.LastErrno;
        return length == sizeof(ulong) && value != 0 && value <= long.MaxValue ? (long)value : -Errno.EINVAL;
    }

    /// <summary>One whole message on a SOCK_SEQPACKET socket (sendmsg, MSG_NOSIGNAL, MSG_EOR when asked):
    /// its length, or -errno (-EAGAIN: not now; -EMSGSIZE: never, too large for the socket).</summary>
    public static long SendMessage(int fd, ReadOnlySpan<Wire.IoVec> data, bool eor)
    {
        if (data.Length > IOV_MAX) return -Errno.EMSGSIZE;  // cannot go whole in one call
        fixed (Wire.IoVec* iov = data)
        {
            var msg = new MsgHdr { Iov = iov, IovLen = (nuint)data.Length };
            nint n = SendMsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT | (eor ? MSG_EOR : 0));
            return n < 0 ? -Libc.LastErrno : n;
        }
    }

    /// <summary>recvmsg of the next message of a SOCK_SEQPACKET socket that has SO_PASSCRED set (with
    /// MSG_TRUNC the result is the message's real length). A read of 0 bytes is an empty message when
    /// it brought credentials, and the end of the stream when it did not (there was no message).</summary>
    private static long ReceiveMessage(int fd, ReadOnlySpan<Wire.IoVec> into, int flags, out bool eor)
    {
        eor = false;
        if (into.Length > IOV_MAX) into = into.Slice(0, IOV_MAX);
        byte* control = stackalloc byte[CredentialsSpace];
        fixed (Wire.IoVec* iov = into)
        {
            var msg = new MsgHdr { Iov = iov, IovLen = (nuint)into.Length, Control = control, ControlLen = CredentialsSpace };
            nint n = RecvMsg(fd, &msg, flags | MSG_TRUNC | MSG_DONTWAIT);
            if (n < 0) return -Libc.LastErrno;
            if (n == 0 && msg.ControlLen == 0) return HostStreamResult.EndOfStream;
            eor = (msg.Flags & MSG_EOR) != 0;
            return n;
        }
    }

    /// <summary>The length of the next message without taking it, or as <see cref="ReceiveMessage(int, ReadOnlySpan{Wire.IoVec}, out bool)"/>.</summary>
    public static long PeekMessage(int fd) => ReceiveMessage(fd, default, MSG_PEEK, out _);

    /// <summary>Takes the next message: its real length (more than <paramref name="into"/> holds when
    /// truncated), <c>HostStreamResult.EndOfStream</c>, or -errno.</summary>
    public static long ReceiveMessage(int fd, ReadOnlySpan<Wire.IoVec> into, out bool eor) => ReceiveMessage(fd, into, 0, out eor);

    /// <summary>A connected pair of non-blocking, close-on-exec sockets (for the fd-level API); <paramref name="a"/>
    /// is the device's end (SO_PASSCRED on it for SOCK_SEQPACKET).</summary>
    public static int Pair(int type, out int a, out int b)
    {
        int* fds = stackalloc int[2];
        SyscallCount.Other();
        int rc = SocketPair(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds);
        if (rc < 0)
        {
            a = b = -1;
            return -Libc.LastErrno;
        }
        a = fds[0];
        b = fds[1];
        if (type == SOCK_SEQPACKET) SetInt(a, SOL_SOCKET, SO_PASSCRED, 1);  // the device's end (see ReceiveMessage)
        return 0;
    }

    public static void RemovePath(string path)
    {
        Span<byte> addr = stackalloc byte[2 + SunPathSize];
        if (!Address(path, addr, out _)) return;
        fixed (byte* a = addr) Unlink(a + 2);
    }

    /// <summary>send of one host buffer (MSG_NOSIGNAL, non-blocking): bytes sent or -errno.</summary>
    public static long Send(int fd, ReadOnlySpan<byte> data)
    {
        fixed (byte* p = data)
        {
            Span<Wire.IoVec> one = stackalloc Wire.IoVec[1];
            one[0] = new Wire.IoVec((nint)p, (nuint)data.Length);
            return Send(fd, one);
        }
    }

    /// <summary>recv into one host buffer (non-blocking): bytes read, 0 at end of stream, or -errno.</summary>
    public static long Receive(int fd, Span<byte> into)
    {
        fixed (byte* p = into)
        {
            Span<Wire.IoVec> one = stackalloc Wire.IoVec[1];
            one[0] = new Wire.IoVec((nint)p, (nuint)into.Length);
            return Receive(fd, one);
        }
    }

    /// <summary>One whole message on a SOCK_SEQPACKET socket behind a one-byte frame (the link between
    /// two devices carries a message's flags that way): the payload's length, or -errno.</summary>
    public static long SendFramedMessage(int fd, byte frame, ReadOnlySpan<Wire.IoVec> data)
    {
        if (data.Length >= IOV_MAX) return -Errno.EMSGSIZE;
        Span<Wire.IoVec> framed = stackalloc Wire.IoVec[data.Length + 1];
        framed[0] = new Wire.IoVec((nint)(&frame), 1);
        data.CopyTo(framed[1..]);
        long n = SendMessage(fd, framed, false);
        return n > 0 ? n - 1 : n;
    }

    /// <summary>Takes the next framed message: its payload's real length (more than <paramref name="into"/>
    /// holds when truncated), <c>HostStreamResult.EndOfStream</c>, -EPROTO for a message without its
    /// frame, or -errno.</summary>
    public static long ReceiveFramedMessage(int fd, ReadOnlySpan<Wire.IoVec> into, out byte frame)
    {
        byte f = 0;
        int count = Math.Min(into.Length, IOV_MAX - 1);
        Span<Wire.IoVec> framed = stackalloc Wire.IoVec[count + 1];
        framed[0] = new Wire.IoVec((nint)(&f), 1);
        into[..count].CopyTo(framed[1..]);
        long n = ReceiveMessage(fd, framed, out _);
        frame = f;
        if (n < 0) return n;
        return n == 0 ? -Errno.EPROTO : n - 1;
    }
}
