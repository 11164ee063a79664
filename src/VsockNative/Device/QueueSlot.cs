namespace VsockNative.Device;

/// <summary>
/// The device's own numbering of its queues (slots), and how the driver's queue indexes map onto
/// it. Three queues (rx 0, tx 1, event 2) unless the separate datagram layout is configured and
/// VIRTIO_VSOCK_F_DGRAM negotiated; then five, as the 2021 proposal numbers them: rx 0, tx 1,
/// datagram rx 2, datagram tx 3, event 4. Slots 0..2 equal the three-queue indexes.
/// </summary>
internal static class QueueSlot
{
    public const uint Rx = DriverQueue.Rx;
    public const uint Tx = DriverQueue.Tx;
    public const uint Event = DriverQueue.Event;
    public const uint DgramRx = 3;
    public const uint DgramTx = 4;
    public const uint Count = 5;
    public const uint Invalid = uint.MaxValue;

    /// <summary>The slot of a driver queue index, or <see cref="Invalid"/>.</summary>
    public static uint Of(uint index, bool fiveQueues) => (fiveQueues, index) switch
    {
        (false, < 3) => index,
        (true, DriverQueue.DgramRx) => DgramRx,
        (true, DriverQueue.DgramTx) => DgramTx,
        (true, DriverQueue.DgramEvent) => Event,
        (true, < 2) => index,
        _ => Invalid,
    };

    /// <summary>The driver queue index of a slot (what interrupt callbacks are told).</summary>
    public static uint IndexOf(uint slot, bool fiveQueues) => (fiveQueues, slot) switch
    {
        (true, DgramRx) => DriverQueue.DgramRx,
        (true, DgramTx) => DriverQueue.DgramTx,
        (true, Event) => DriverQueue.DgramEvent,
        _ => slot,
    };

    /// <summary>Number of driver queues.</summary>
    public static uint Queues(bool fiveQueues) => fiveQueues ? 5u : 3u;
}

/// <summary>The driver's queue indexes (virtio 1.3 5.10.2; the five-queue layout of the 2021 datagram
/// proposal), as the C ABI names them (VSN_QUEUE_*).</summary>
internal static class DriverQueue
{
    public const uint Rx = 0;
    public const uint Tx = 1;
    public const uint Event = 2;
    public const uint DgramRx = 2;
    public const uint DgramTx = 3;
    public const uint DgramEvent = 4;
    /// <summary>No queue (a fault that is not a queue's).</summary>
    public const uint None = 0xFFFF_FFFF;
}

/// <summary>Device status bits (virtio 1.x 2.1): VSN_DEVICE_STATUS_*.</summary>
internal static class StatusBits
{
    public const uint Running = 0x4;
    public const uint NeedsReset = 0x40;
}
