using System;
using VsockNative.EventLoop;
using VsockNative.Interop;
using VsockNative.Diagnostics;
using VsockNative.Interop.Native;

namespace VsockNative.Device;

/// <summary>How one queue is notified: a kick fd the device watches (or none: the host calls
/// vsn_queue_notify), and an interrupt sink (a call fd, or a callback, or nothing). Owns its fds.</summary>
internal sealed class QueueNotifier
{
    private Action<uint>? _interrupt;

    /// <summary>The driver's index of this queue (what interrupt_fn is told; it moves with the queue layout).</summary>
    public uint Index { get; set; }
    public int KickFd { get; private set; } = -1;
    public int CallFd { get; private set; } = -1;

    public QueueNotifier(uint index) => Index = index;

    /// <summary>Takes copies of the caller's fds (validate-then-assign: on failure nothing changes).</summary>
    public int Set(int kickFd, int callFd, Action<uint>? interrupt, out string error)
    {
        error = "";
        int kick = -1, call = -1;
        if (kickFd >= 0 && !EventFd.IsEventFd(kickFd))
        {
            error = $"kick_fd {kickFd} is not an eventfd (a pipe or socket whose peer closes would wake the event loop without end)";
            return -Errno.EINVAL;
        }
        if (kickFd >= 0 && (kick = EventFd.DupNonBlocking(kickFd)) < 0)
        {
            error = $"kick_fd {kickFd} cannot be duplicated (errno {-kick})";
            return kick;
        }
        if (callFd >= 0 && (call = EventFd.DupNonBlocking(callFd)) < 0)
        {
            error = $"call_fd {callFd} cannot be duplicated (errno {-call})";
            if (kick >= 0) Libc.Close(kick);
            return call;
        }
        CloseFds();
        KickFd = kick;
        CallFd = call;
        _interrupt = interrupt;
        return 0;
    }

    /// <summary>Delivers one interrupt; returns false when a call fd write failed.</summary>
    public bool Interrupt()
    {
        if (CallFd >= 0) return EventFd.Signal(CallFd) == 0;
        _interrupt?.Invoke(Index);
        return true;
    }

    /// <summary>Closes the fds and forgets the callback; safe to call twice.</summary>
    public void CloseFds()
    {
        if (KickFd >= 0) Libc.Close(KickFd);
        if (CallFd >= 0) Libc.Close(CallFd);
        KickFd = CallFd = -1;
        _interrupt = null;
    }
}
