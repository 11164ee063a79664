namespace VsockNative.Interop;

/// <summary>Tells the host, once, that the device cannot go on and has set
/// VSN_DEVICE_STATUS_NEEDS_RESET (virtio's DEVICE_NEEDS_RESET): a queue the driver broke (an avail
/// index more than a queue ahead, a head descriptor beyond the queue) or an event loop that failed.
/// <c>queue_index</c> is the queue at fault (the driver's index), or VSN_QUEUE_NONE when no queue is;
/// <c>reason</c> a NUL-terminated line, valid only during the call. Called on the device's event-loop
/// thread (or the caller of vsn_device_poll) after it released the device's lock: it may call the
/// getters of any device; a vhost-user backend signals the vring's err eventfd here. Reset the device
/// (vsn_device_reset) from another thread, not from inside the call.</summary>
[CSection(AbiSection.Lifecycle, 1)]
[CCallback("vsn_needs_reset_fn", "user", "queue_index", "reason")]
internal unsafe struct NeedsResetCallback
{
    public delegate* unmanaged<void*, uint, sbyte*, void> Fn;
}
