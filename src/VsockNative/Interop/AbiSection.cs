namespace VsockNative.Interop;

/// <summary>The sections of include/vsock_native.h, in the order a C program meets them in the life of
/// a device. Each summary is the section's heading in the header, so it is written in C words.</summary>
internal enum AbiSection
{
    /// <summary>Library: the ABI version and the process-wide log.</summary>
    Library = 1,
    /// <summary>Device lifecycle: create, destroy, reset, status.</summary>
    Lifecycle = 2,
    /// <summary>Memory and features: the guest's memory table, feature negotiation, the config space.</summary>
    MemoryAndFeatures = 3,
    /// <summary>Queues: setup, base indexes, notify (kicks) and interrupts.</summary>
    Queues = 4,
    /// <summary>Running: start, stop, poll (manual mode), TRANSPORT_RESET, saving and restoring the device state.</summary>
    Running = 5,
    /// <summary>The fd API: host programs listen on and connect to guest ports through plain fds.</summary>
    FdApi = 6,
    /// <summary>Routing: guest-to-guest connections between sibling devices.</summary>
    Routing = 7,
    /// <summary>Diagnostics: counters of queues, devices and connections, and connection info.</summary>
    Diagnostics = 8,
    /// <summary>Deprecated names: kept for one ABI minor so older callers build; use the new ones.</summary>
    Deprecated = 9,
}
