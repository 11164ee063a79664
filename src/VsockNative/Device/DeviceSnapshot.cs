using VsockNative.Connections;

namespace VsockNative.Device;

/// <summary>One queue as a snapshot keeps it: where its rings are, where it stopped, and the
/// notification state (recorded for diagnosis: a start re-derives it, see BEHAVIOUR.md).</summary>
internal readonly record struct QueueSnapshot(
    bool Configured, uint Size, ulong DescAddr, ulong AvailAddr, ulong UsedAddr,
    ushort LastAvailIdx, ushort UsedIdx, ushort SignalledUsedIdx, bool KicksEnabled, bool SignalledValid);

/// <summary>What a new device (in this process or another) needs to continue a stopped one: the
/// guest CID and options it was created with, the driver's features, every queue (by the device's
/// slot numbering, <see cref="QueueSlot"/>) and the backend's allocators and listeners. No
/// connection, socket, fd or pointer: those belong to the process that saved it.</summary>
internal sealed record DeviceSnapshot(
    ulong GuestCid, ulong OfferedFeatures, ulong DriverFeatures, bool SeparateDatagramQueues, uint BufAlloc,
    QueueSnapshot[] Queues, BackendState Backend);
