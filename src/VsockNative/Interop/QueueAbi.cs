using VsockNative.Virtqueue;

namespace VsockNative.Interop;

/// <summary>One region of guest memory: guest-physical base, size, and where the host mapped it.</summary>
[CSection(AbiSection.MemoryAndFeatures, 1)]
[CStruct("vsn_mem_region")]
internal unsafe struct MemRegion
{
    /// <summary>Guest-physical address of the first byte.</summary>
    public ulong GuestPhysAddr;
    /// <summary>Size in bytes (non-zero).</summary>
    public ulong Size;
    /// <summary>Host address of the first byte; the device reads and writes guest memory only through it.</summary>
    public void* HostAddr;
}

/// <summary>Receives a queue's interrupts when the queue has no call fd. <c>user</c> is the
/// pointer from vsn_queue_config, <c>queue_index</c> the queue. Called on the thread that
/// processes the queue (the device's event loop, or the caller of vsn_device_poll).
/// It may hold the device's lock: from inside it, call only vsn_queue_notify and the getters
/// (status, counters, connections) of that device.</summary>
[CSection(AbiSection.Queues, 1)]
[CCallback("vsn_interrupt_fn", "user", "queue_index")]
internal unsafe struct InterruptCallback
{
    public delegate* unmanaged<void*, uint, void> Fn;
}

/// <summary>Where a queue lives and how it is notified. Set struct_size to sizeof(vsn_queue_config).</summary>
[CSection(AbiSection.Queues, 1)]
[CStruct("vsn_queue_config")]
internal unsafe struct QueueSetup
{
    /// <summary>sizeof(vsn_queue_config) as the caller compiled it.</summary>
    public uint StructSize;
    /// <summary>Queue size: a power of two from 1 to 32768.</summary>
    public uint Size;
    /// <summary>Guest-physical address of the descriptor table (16-byte aligned).</summary>
    public ulong DescAddr;
    /// <summary>Guest-physical address of the available ring (2-byte aligned).</summary>
    public ulong AvailAddr;
    /// <summary>Guest-physical address of the used ring (4-byte aligned).</summary>
    public ulong UsedAddr;
    /// <summary>An eventfd the driver side signals to kick the queue, or -1 when the host calls
    /// vsn_queue_notify instead. It must be an eventfd (anything else: -EINVAL). The device
    /// duplicates it; the caller keeps its own.</summary>
    public int KickFd;
    /// <summary>An eventfd the device signals to interrupt the driver, or -1 to use interrupt_fn.
    /// The device duplicates it.</summary>
    public int CallFd;
    /// <summary>Called for interrupts when call_fd is -1; may be NULL (no interrupts).</summary>
    public InterruptCallback InterruptFn;
    /// <summary>Passed to interrupt_fn.</summary>
    public void* InterruptUser;
}

/// <summary>What vsn_queue_get_counters fills: set struct_size first; the library writes at most that many bytes.</summary>
[CSection(AbiSection.Diagnostics, 2)]
[CStruct("vsn_queue_counters")]
internal struct QueueCountersAbi
{
    /// <summary>sizeof(vsn_queue_counters) as the caller compiled it.</summary>
    public uint StructSize;
    /// <summary>The queue these counters belong to (filled in by the library).</summary>
    public uint QueueIndex;
    /// <summary>The counters.</summary>
    public QueueCounters Values;
}

/// <summary>Device-wide packet counters (vsn_device_get_counters): set struct_size first.</summary>
[CSection(AbiSection.Diagnostics, 7)]
[CStruct("vsn_device_counters")]
internal struct DeviceCountersAbi
{
    /// <summary>sizeof(vsn_device_counters) as the caller compiled it.</summary>
    public uint StructSize;
    /// <summary>Virtio device status bits (VSN_DEVICE_STATUS_*), as from vsn_device_get_status.</summary>
    public uint Status;
    /// <summary>The counters.</summary>
    public Device.DeviceCounters Values;
    /// <summary>The connection layer's counters.</summary>
    public Connections.MuxerCounters Connections;
    /// <summary>The datagram layer's counters (traffic each way, drops by reason).</summary>
    public Connections.DatagramCounters Datagrams;
    /// <summary>The per-connection counters (vsn_connection_counter_values) of every connection freed
    /// since the device was created, added up: credit violations, close timeouts, resets and dropped
    /// bytes stay visible after their connection is gone. Open connections: vsn_device_get_connections.</summary>
    public Protocol.ConnectionCounters EndedConnections;
    /// <summary>The syscalls the device's event loop made, by kind (its own, not the program's):
    /// divided by the packets moved, what batching saves.</summary>
    public Native.SyscallCounters Syscalls;
    /// <summary>What the connection layer could not do for lack of file descriptors or memory (ABI 0.6).</summary>
    public Connections.ResourceCounters Resources;
}

/// <summary>Queue indexes of the virtio-vsock device (virtio 1.3 5.10.2).</summary>
[CSection(AbiSection.Queues, 1)]
internal static class QueueIndex
{
    /// <summary>The receive queue: the device writes packets for the driver.</summary>
    [CDefine("VSN_QUEUE_RX")] public const uint Rx = Device.DriverQueue.Rx;
    /// <summary>The transmit queue: the driver sends packets.</summary>
    [CDefine("VSN_QUEUE_TX")] public const uint Tx = Device.DriverQueue.Tx;
    /// <summary>The event queue: the device posts events (TRANSPORT_RESET).</summary>
    [CDefine("VSN_QUEUE_EVENT")] public const uint Event = Device.DriverQueue.Event;
    /// <summary>Number of queues (the three-queue layout).</summary>
    [CDefine("VSN_QUEUE_COUNT")] public const uint Count = 3;
    /// <summary>Five-queue layout only (dgram_layout VSN_DGRAM_LAYOUT_SEPARATE with VIRTIO_VSOCK_F_DGRAM
    /// negotiated, as the 2021 datagram proposal numbers them): the datagram receive queue.</summary>
    [CDefine("VSN_QUEUE_DGRAM_RX")] public const uint DgramRx = Device.DriverQueue.DgramRx;
    /// <summary>Five-queue layout only: the datagram transmit queue.</summary>
    [CDefine("VSN_QUEUE_DGRAM_TX")] public const uint DgramTx = Device.DriverQueue.DgramTx;
    /// <summary>Five-queue layout only: the event queue moves to index 4.</summary>
    [CDefine("VSN_QUEUE_DGRAM_EVENT")] public const uint DgramEvent = Device.DriverQueue.DgramEvent;
    /// <summary>Number of queues of the five-queue layout.</summary>
    [CDefine("VSN_QUEUE_COUNT_MAX")] public const uint CountMax = 5;
    /// <summary>No queue (vsn_needs_reset_fn: the fault is not a queue's).</summary>
    [CDefine("VSN_QUEUE_NONE")] public const uint None = Device.DriverQueue.None;
}

/// <summary>Device status bits (virtio 1.x 2.1), as reported by vsn_device_get_status.</summary>
[CSection(AbiSection.Lifecycle, 4)]
internal static class DeviceStatus
{
    /// <summary>The device is started (vsn_device_start) and processes its queues.</summary>
    [CDefine("VSN_DEVICE_STATUS_RUNNING")] public const uint Running = Device.StatusBits.Running;
    /// <summary>The device hit an error it cannot recover from (a queue the driver broke); it must
    /// be reset (vsn_device_reset) and set up again. The virtio DEVICE_NEEDS_RESET bit.</summary>
    [CDefine("VSN_DEVICE_STATUS_NEEDS_RESET")] public const uint NeedsReset = Device.StatusBits.NeedsReset;
}
