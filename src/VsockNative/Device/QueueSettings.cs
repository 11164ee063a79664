using System;

namespace VsockNative.Device;

/// <summary>Where a queue lives and how it is notified (what vsn_queue_config says, in managed terms).</summary>
/// <param name="Size">Queue size: a power of two from 1 to 32768.</param>
/// <param name="DescAddr">Guest-physical address of the descriptor table.</param>
/// <param name="AvailAddr">Guest-physical address of the available ring.</param>
/// <param name="UsedAddr">Guest-physical address of the used ring.</param>
/// <param name="KickFd">An eventfd the driver side signals, or -1 (the host calls Notify).</param>
/// <param name="CallFd">An eventfd the device signals for interrupts, or -1.</param>
/// <param name="Interrupt">Called with the driver's queue index for an interrupt when there is no call fd; may be null.</param>
internal readonly record struct QueueSettings(uint Size, ulong DescAddr, ulong AvailAddr, ulong UsedAddr, int KickFd, int CallFd,
    Action<uint>? Interrupt);
