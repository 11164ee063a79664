using VsockNative.Diagnostics;
namespace VsockNative.Interop;

/// <summary>What vsn_device_create needs. Set struct_size to sizeof(vsn_device_config): a caller
/// built against an older header passes a smaller size and gets defaults for the fields it does
/// not know; a newer, larger struct is accepted when the bytes this library does not know are zero.</summary>
[CSection(AbiSection.Lifecycle, 2)]
[CStruct("vsn_device_config")]
internal unsafe struct DeviceConfig
{
    /// <summary>sizeof(vsn_device_config) as the caller compiled it (at least VSN_DEVICE_CONFIG_MIN_SIZE, a multiple of 8).</summary>
    public uint StructSize;
    /// <summary>VSN_DEVICE_F_* bits; others must be 0.</summary>
    public uint Flags;
    /// <summary>The guest's context id: 3 .. 0xFFFFFFFE (0, 1, 2 and 0xFFFFFFFF are reserved; the upper 32 bits must be 0).</summary>
    public ulong GuestCid;
    /// <summary>Feature bits the device offers (masks of 1ull &lt;&lt; VSN_VIRTIO_*_F_*); 0 offers everything the library supports.</summary>
    public ulong Features;
    /// <summary>Receives this device's log lines; may be NULL.</summary>
    public LogCallback LogFn;
    /// <summary>Passed to log_fn as its first argument.</summary>
    public void* LogUser;
    /// <summary>Highest VSN_LOG_* level delivered to log_fn.</summary>
    public int LogLevel;
    /// <summary>Reserved; must be 0.</summary>
    public uint Reserved0;
    /// <summary>Hybrid-vsock Unix socket path (the convention of Firecracker and vhost-device-vsock), or
    /// NULL for none: host programs connect to it and write "CONNECT &lt;port&gt;\n"; a guest connecting to
    /// port P reaches the Unix listener at "&lt;uds_path&gt;_P". Copied, and bound, at creation (see
    /// vsn_device_create).</summary>
    public sbyte* UdsPath;
    /// <summary>Bytes the device buffers per connection for guest-to-host data (the buf_alloc it
    /// advertises); 0 = 262144. At most 1 GiB.</summary>
    public uint BufAlloc;
    /// <summary>Connections at most; a guest REQUEST beyond it is refused with RST. 0 = 1024.</summary>
    public uint MaxConnections;
    /// <summary>Where datagrams travel when VIRTIO_VSOCK_F_DGRAM is negotiated: VSN_DGRAM_LAYOUT_SHARED
    /// (0, the default: on the rx/tx queues, as the 2023 proposal) or VSN_DGRAM_LAYOUT_SEPARATE (five
    /// queues, as the 2021 proposal: rx 0, tx 1, datagram rx 2, datagram tx 3, event 4; needs
    /// VIRTIO_VSOCK_F_DGRAM offered). Without DGRAM negotiated the device has three queues either way.</summary>
    public uint DgramLayout;
    /// <summary>Datagram sockets the device opens at most (one per guest port talking to Unix endpoints,
    /// one per vsn_device_listen/vsn_device_connect datagram fd); beyond it datagrams are dropped and counted. 0 = 64; at most 4096.</summary>
    public uint MaxDgramSockets;
    /// <summary>Reserved; must be 0.</summary>
    public uint Reserved1;
    /// <summary>Called once when the device sets VSN_DEVICE_STATUS_NEEDS_RESET; may be NULL.</summary>
    public NeedsResetCallback NeedsResetFn;
    /// <summary>Passed to needs_reset_fn.</summary>
    public void* NeedsResetUser;

    /// <summary>The smallest struct_size accepted: the fields up to and including features.</summary>
    [CDefine("VSN_DEVICE_CONFIG_MIN_SIZE"), CSection(AbiSection.Lifecycle, 1)] public const uint MinSize = 24;
}

/// <summary>A device: create with vsn_device_create, free with vsn_device_destroy.</summary>
[CSection(AbiSection.Lifecycle, 1)]
[COpaque("vsn_device")]
internal struct DeviceHandle
{
    public nint Value;
}

/// <summary>vsn_device_config.dgram_layout values.</summary>
[CSection(AbiSection.Lifecycle, 3)]
internal static class DgramLayout
{
    /// <summary>Datagrams share the rx and tx queues with streams (the 2023 VIRTIO_VSOCK_F_DGRAM proposal).</summary>
    [CDefine("VSN_DGRAM_LAYOUT_SHARED")] public const uint Shared = 0;
    /// <summary>Datagrams on their own queues (the 2021 proposal): see VSN_QUEUE_DGRAM_RX.</summary>
    [CDefine("VSN_DGRAM_LAYOUT_SEPARATE")] public const uint Separate = 1;
}

/// <summary>vsn_device_config.flags bits.</summary>
[CSection(AbiSection.Lifecycle, 2)]
internal static class DeviceFlags
{
    /// <summary>No event-loop thread: the host calls vsn_device_poll to process kicks (as libvhost-user's
    /// vu_dispatch). Without it, vsn_device_start runs one event-loop thread per device.</summary>
    [CDefine("VSN_DEVICE_F_MANUAL_POLL")] public const uint ManualPoll = 1;

    /// <summary>Guest connections to the host (CID 2) on a port with no vsn_device_listen listener go to the
    /// router (vsn_device_set_router) with dst_cid 2, as a sibling connection would, instead of to
    /// "&lt;uds_path&gt;_P": the program forwards them (vhost-user-vsock's forward-cid: to the host's
    /// AF_VSOCK). Stream and seqpacket (a seqpacket connection reaches the router as a SOCK_SEQPACKET pair whose
    /// messages carry one leading flags byte, as a sibling route's: see vsn_router_fn); without a router such REQUESTs get RST. Since ABI 0.5.</summary>
    [CDefine("VSN_DEVICE_F_ROUTE_HOST")] public const uint RouteHost = 2;

    public const uint All = ManualPoll | RouteHost;
}
