using VsockNative.Diagnostics;
using System;
using VsockNative.EventLoop;

namespace VsockNative.Interop.Native;

// Datagram calls: sendmsg to an address, recvmsg that reports the sender's address and the real
// length of a datagram that did not fit (MSG_TRUNC). Never blocking, never SIGPIPE.
internal static unsafe partial class SocketCalls
{

    /// <summary>Fills a sockaddr_un for a path given as UTF-8 bytes plus a decimal port appended
    /// (e.g. "&lt;uds_path&gt;_" and 1234); false when it does not fit sun_path with its NUL.</summary>
    public static bool PortAddress(ReadOnlySpan<byte> pathPrefix, uint port, Span<byte> addr, out uint length)
    {
        length = 0;
        Span<byte> digits = stackalloc byte[10];
        if (!port.TryFormat(digits, out int n, default, System.Globalization.CultureInfo.InvariantCulture)) return false;
        int pathLength = pathPrefix.Length + n;
        if (pathLength >= SunPathSize || addr.Length < 2 + SunPathSize) return false;
        addr.Slice(0, 2 + SunPathSize).Clear();
        addr[0] = AF_UNIX;
        pathPrefix.CopyTo(addr.Slice(2));
        digits.Slice(0, n).CopyTo(addr.Slice(2 + pathPrefix.Length));
        length = (uint)(2 + pathLength + 1);
        return true;
    }

    /// <summary>The port P of a sender bound at "&lt;prefix&gt;P" (decimal, no sign, fits a u32), read from the
    /// sockaddr_un recvmsg returned; false for any other address (unbound, abstract, other path).</summary>
    public static bool ParsePortAddress(ReadOnlySpan<byte> addr, uint addrLength, ReadOnlySpan<byte> pathPrefix, out uint port)
    {
        port = 0;
        if (addrLength <= 2 || addrLength > addr.Length) return false;
        var path = addr.Slice(2, (int)addrLength - 2);
        int nul = path.IndexOf((byte)0);
        if (nul >= 0) path = path.Slice(0, nul);
        if (path.Length <= pathPrefix.Length || path.Length - pathPrefix.Length > 10 || !path.StartsWith(pathPrefix)) return false;
        ulong value = 0;
        foreach (byte b in path.Slice(pathPrefix.Length))
        {
            if (b < (byte)'0' || b > (byte)'9') return false;
            value = value * 10 + (ulong)(b - '0');
        }
        if (value > uint.MaxValue) return false;
        port = (uint)value;
        return true;
    }

    /// <summary>sendmsg of one datagram to an address (or to the connected peer when addr is empty),
    /// MSG_DONTWAIT | MSG_NOSIGNAL: bytes sent or a negative errno (-EAGAIN / -ENOBUFS when the
    /// receiver has no room, -ENOENT / -ECONNREFUSED when nobody is bound there).</summary>
    public static long SendTo(int fd, ReadOnlySpan<byte> addr, uint addrLength, ReadOnlySpan<Wire.IoVec> data)
    {
        if (data.Length > IOV_MAX) return -Errno.EMSGSIZE;
        fixed (byte* a = addr)
        fixed (Wire.IoVec* iov = data)
        {
            var msg = new MsgHdr { Name = addrLength == 0 ? null : a, NameLen = addrLength, Iov = iov, IovLen = (nuint)data.Length };
            nint n = SendMsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
            return n < 0 ? -Libc.LastErrno : n;
        }
    }

    /// <summary>recvmsg of one datagram (MSG_DONTWAIT | MSG_TRUNC): its real length (it may exceed what
    /// <paramref name="into"/> holds: the rest was cut off), or a negative errno (-EAGAIN: none). The
    /// sender's address goes to <paramref name="addr"/> (its length to <paramref name="addrLength"/>).</summary>
    public static long ReceiveFrom(int fd, ReadOnlySpan<Wire.IoVec> into, Span<byte> addr, out uint addrLength)
    {
        addrLength = 0;
        fixed (byte* a = addr)
        fixed (Wire.IoVec* iov = into)
        {
            var msg = new MsgHdr { Name = a, NameLen = (uint)addr.Length, Iov = iov, IovLen = (nuint)into.Length };
            nint n = RecvMsg(fd, &msg, MSG_DONTWAIT | MSG_TRUNC);
            if (n < 0) return -Libc.LastErrno;
            addrLength = Math.Min(msg.NameLen, (uint)addr.Length);
            return n;
        }
    }
}
