using VsockNative.Diagnostics;
using System;
using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace VsockNative.Interop.Native;

/// <summary>An epoll instance whose events carry a 64-bit tag. struct epoll_event is packed on
/// x86_64 (12 bytes) and naturally aligned elsewhere (16): the stride is chosen at run time.</summary>
internal sealed unsafe class Epoll : IDisposable
{
    private static readonly int Stride = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 12 : 16;
    private static readonly int DataOffset = Stride == 12 ? 4 : 8;
    private readonly byte[] _events;
    private int _fd;

    private Epoll(int fd, int capacity)
    {
        _fd = fd;
        _events = new byte[capacity * Stride];
    }

    /// <summary>Creates an epoll instance, or returns the negative errno.</summary>
    public static int Create(int capacity, out Epoll? epoll)
    {
        int fd = Libc.EpollCreate1(Libc.EPOLL_CLOEXEC);
        epoll = fd < 0 ? null : new Epoll(fd, capacity);
        return fd < 0 ? -Libc.LastErrno : 0;
    }

    /// <summary>Watches <paramref name="fd"/> for readability; events report <paramref name="tag"/>.</summary>
    public int Add(int fd, ulong tag) => Control(Libc.EPOLL_CTL_ADD, fd, tag, Libc.EPOLLIN);

    /// <summary>Watches <paramref name="fd"/> for <paramref name="events"/> (EPOLLIN, EPOLLOUT, ...).</summary>
    public int Add(int fd, ulong tag, uint events) => Control(Libc.EPOLL_CTL_ADD, fd, tag, events);

    /// <summary>Changes the events watched on <paramref name="fd"/> (level-triggered interest).</summary>
    public int Modify(int fd, ulong tag, uint events) => Control(Libc.EPOLL_CTL_MOD, fd, tag, events);

    private int Control(int op, int fd, ulong tag, uint events)
    {
        byte* ev = stackalloc byte[16];
        BinaryPrimitives.WriteUInt32LittleEndian(new Span<byte>(ev, 4), events);
        BinaryPrimitives.WriteUInt64LittleEndian(new Span<byte>(ev + DataOffset, 8), tag);
        SyscallCount.EpollCtl();
        return Libc.EpollCtl(_fd, op, fd, ev) < 0 ? -Libc.LastErrno : 0;
    }

    public int Remove(int fd)
    {
        SyscallCount.EpollCtl();
        return Libc.EpollCtl(_fd, Libc.EPOLL_CTL_DEL, fd, null) < 0 ? -Libc.LastErrno : 0;
    }

    /// <summary>Waits up to <paramref name="timeoutMs"/> (-1: forever) and writes the ready tags into
    /// <paramref name="tags"/>; returns how many, 0 on timeout or EINTR, or a negative errno.</summary>
    public int Wait(Span<ulong> tags, int timeoutMs) => Wait(tags, default, timeoutMs);

    /// <summary>As <see cref="Wait(Span{ulong}, int)"/>, also reporting each tag's ready events
    /// (when <paramref name="events"/> is not empty).</summary>
    public int Wait(Span<ulong> tags, Span<uint> events, int timeoutMs)
    {
        int max = Math.Min(tags.Length, _events.Length / Stride);
        int n;
        SyscallCount.EpollWait();
        fixed (byte* p = _events) n = Libc.EpollWait(_fd, p, max, timeoutMs);
        if (n < 0) return Libc.LastErrno == Libc.EINTR ? 0 : -Libc.LastErrno;
        for (int i = 0; i < n; i++)
        {
            tags[i] = BinaryPrimitives.ReadUInt64LittleEndian(_events.AsSpan(i * Stride + DataOffset, 8));
            if (!events.IsEmpty) events[i] = BinaryPrimitives.ReadUInt32LittleEndian(_events.AsSpan(i * Stride, 4));
        }
        return n;
    }

    public void Dispose()
    {
        if (_fd >= 0) Libc.Close(_fd);
        _fd = -1;
    }
}
