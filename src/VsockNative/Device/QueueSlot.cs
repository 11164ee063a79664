using VsockNative.Interop;

namespace VsockNative.Device;

/// <summary>
/// The device's own numbering of its queues (slots), and how the driver's queue indexes map onto
/// it. Three queues (rx 0, tx 1, event 2) unless the separate datagram layout is configured and
/// VIRTIO_VSOCK_F_DGRAM negotiated; then five, as the 2021 proposal numbers them: rx 0, tx 1,
/// datagram rx 2, datagram tx 3, event 4. Slots 0..2 equal the three-queue indexes.
/// </summary>
internal static class QueueSlot
{
    public const uint Rx = QueueIndex.Rx;
    public const uint Tx = QueueIndex.Tx;
    public const uint Event = QueueIndex.Event;
    public const uint DgramRx = 3;
    public const uint DgramTx = 4;
    public const uint Count = 5;
    public const uint Invalid = uint.MaxValue;

    /// <summary>The slot of a driver queue index, or <see cref="Invalid"/>.</summary>
    public static uint Of(uint index, bool fiveQueues) => (fiveQueues, index) switch
    {
        (false, < 3) => index,
        (true, QueueIndex.DgramRx) => DgramRx,
        (true, QueueIndex.DgramTx) => DgramTx,
        (true, QueueIndex.DgramEvent) => Event,
        (true, < 2) => index,
        _ => Invalid,
    };

    /// <summary>The driver queue index of a slot (what interrupt callbacks are told).</summary>
    public static uint IndexOf(uint slot, bool fiveQueues) => (fiveQueues, slot) switch
    {
        (true, DgramRx) => QueueIndex.DgramRx,
        (true, DgramTx) => QueueIndex.DgramTx,
        (true, Event) => QueueIndex.DgramEvent,
        _ => slot,
    };

    /// <summary>Number of driver queues.</summary>
    public static uint Queues(bool fiveQueues) => fiveQueues ? 5u : 3u;
}
