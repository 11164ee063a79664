using VsockNative.Interop;

namespace VsockNative.Interop.Native;

/// <summary>Syscalls one device's event loop made, by kind: the device's own, not the program's. How
/// many per packet is what batching changes, so the benchmarks and operators read it here.</summary>
[CStruct("vsn_syscall_counter_values")]
[CSection(AbiSection.Diagnostics, 5)]
internal struct SyscallCounters
{
    /// <summary>epoll_wait calls (each loop wake-up is one).</summary>
    public ulong EpollWait;
    /// <summary>epoll_ctl calls (interest added, changed or removed).</summary>
    public ulong EpollCtl;
    /// <summary>Reads from sockets (recvmsg, recvfrom): host streams, messages, datagrams, handshakes.</summary>
    public ulong SocketReads;
    /// <summary>Writes to sockets (sendmsg, sendto).</summary>
    public ulong SocketWrites;
    /// <summary>eventfd reads (kicks and wake-ups drained).</summary>
    public ulong EventFdReads;
    /// <summary>eventfd writes (interrupts through call fds, wake-ups).</summary>
    public ulong EventFdWrites;
    /// <summary>Everything else the loop called: accept, connect, socketpair, shutdown, close, setsockopt.</summary>
    public ulong Other;
}

/// <summary>One device's syscall counters, filled by the thread that runs its loop.</summary>
internal sealed class SyscallCounterBlock
{
    public SyscallCounters Values;
}

/// <summary>
/// Counts the syscalls of the libc wrappers into the block of the device whose loop runs on this
/// thread (set with <see cref="Enter"/> for one turn of the loop; nothing is counted elsewhere). A
/// thread-static read and an add per call: nothing next to the syscall itself.
/// </summary>
internal static class SyscallCount
{
    [System.ThreadStatic] private static SyscallCounterBlock? t_block;

    /// <summary>Counts this thread's syscalls into <paramref name="block"/> until <see cref="Exit"/>.</summary>
    public static SyscallCounterBlock? Enter(SyscallCounterBlock block)
    {
        var previous = t_block;
        t_block = block;
        return previous;
    }

    public static void Exit(SyscallCounterBlock? previous) => t_block = previous;

    public static void EpollWait() { if (t_block is { } b) b.Values.EpollWait++; }
    public static void EpollCtl() { if (t_block is { } b) b.Values.EpollCtl++; }
    public static void SocketRead() { if (t_block is { } b) b.Values.SocketReads++; }
    public static void SocketWrite() { if (t_block is { } b) b.Values.SocketWrites++; }
    public static void EventFdRead() { if (t_block is { } b) b.Values.EventFdReads++; }
    public static void EventFdWrite() { if (t_block is { } b) b.Values.EventFdWrites++; }
    public static void Other() { if (t_block is { } b) b.Values.Other++; }
}
