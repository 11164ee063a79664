namespace VsockNative.Connections;

/// <summary>Limits and endpoints of the datagram layer of one device.</summary>
internal sealed class DatagramOptions
{
    /// <summary>Largest datagram payload either way (the proposal's 64 KiB VIRTIO_VSOCK_MAX_PKT_BUF_SIZE).</summary>
    public const int MaxDatagram = 64 * 1024;

    /// <summary>Hybrid-vsock Unix socket path, or null (no Unix datagram endpoints).</summary>
    public string? UdsPath { get; init; }

    /// <summary>Device-owned datagram sockets at most (one per guest port that talks to Unix endpoints).</summary>
    public int MaxSockets { get; init; } = 64;

    /// <summary>A device-owned socket with no traffic for this long is closed (and its path removed).</summary>
    public long SocketIdleMs { get; init; } = 60_000;

    /// <summary>A partial guest datagram whose last fragment does not come within this time is dropped.</summary>
    public long ReassemblyTimeoutMs { get; init; } = 1000;

    /// <summary>Bytes of host datagrams that may wait for guest rx buffers; while a largest datagram
    /// would not fit, host sockets are not read (their senders see EAGAIN).</summary>
    public int PendingBytes { get; init; } = 4 * MaxDatagram;

    /// <summary>RST replies that may wait for rx buffers; more are counted as dropped.</summary>
    public int MaxPendingResets { get; init; } = 1024;
}
