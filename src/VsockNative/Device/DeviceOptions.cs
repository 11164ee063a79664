using System;
using VsockNative.Wire;
using VsockNative.Diagnostics;

namespace VsockNative.Device;

/// <summary>Validated device settings (the interop layer builds them from a vsn_device_config that passed every check).</summary>
internal sealed class DeviceOptions
{
    /// <summary>Feature bits this library implements and offers by default.</summary>
    public const ulong SupportedFeatures =
        VirtioTransportFeatures.Version1 | VirtioTransportFeatures.IndirectDesc | VirtioTransportFeatures.EventIdx |
        VirtioVsockFeatures.Stream | VirtioVsockFeatures.Seqpacket | VirtioVsockFeatures.Dgram;

    public const uint DefaultBufAlloc = 256 * 1024;
    public const uint DefaultMaxConnections = 1024;
    public const uint DefaultMaxDgramSockets = 64;
    public const uint MaxMaxDgramSockets = 4096;
    /// <summary>Longest uds_path: "&lt;path&gt;_4294967295" must fit sockaddr_un with its NUL.</summary>
    public const int MaxUdsPathBytes = 107 - 11;

    public DeviceOptions(ulong guestCid, ulong features, bool manualPoll, string? udsPath, uint bufAlloc, uint maxConnections,
        bool separateDatagramQueues, uint maxDgramSockets)
    {
        SeparateDatagramQueues = separateDatagramQueues;
        MaxDgramSockets = maxDgramSockets;
        GuestCid = guestCid;
        OfferedFeatures = features;
        ManualPoll = manualPoll;
        UdsPath = udsPath;
        BufAlloc = bufAlloc;
        MaxConnections = maxConnections;
    }

    /// <summary>The hybrid-vsock socket path, or null.</summary>
    public string? UdsPath { get; }
    /// <summary>Per-connection buffer for guest-to-host data: the buf_alloc the device advertises.</summary>
    public uint BufAlloc { get; }
    public uint MaxConnections { get; }
    /// <summary>Datagrams travel on their own queues (five-queue layout) once VIRTIO_VSOCK_F_DGRAM is negotiated.</summary>
    public bool SeparateDatagramQueues { get; }
    public uint MaxDgramSockets { get; }

    public ulong GuestCid { get; }
    public ulong OfferedFeatures { get; }

    /// <summary>No event-loop thread: the host drives the device with vsn_device_poll.</summary>
    public bool ManualPoll { get; }

    /// <summary>Guest connections to the host without a listener go to the router (VSN_DEVICE_F_ROUTE_HOST).</summary>
    public bool RouteHost { get; init; }

    /// <summary>Told (queue index or <c>uint.MaxValue</c>, reason) once when the device needs a reset;
    /// called on the loop thread outside the device's lock. Set by the interop layer.</summary>
    public Action<uint, string>? NeedsReset { get; set; }

    /// <summary>Why a guest CID is not allowed, or null. virtio 1.3 5.10.4: CIDs 0, 1, 2 and
    /// 0xFFFFFFFF are reserved; the upper 32 bits are reserved and must be zero.</summary>
    public static string? CidError(ulong cid) => cid switch
    {
        0 => "guest_cid 0 is reserved (hypervisor)",
        1 => "guest_cid 1 is reserved (local loopback)",
        2 => "guest_cid 2 is reserved (the host)",
        0xFFFF_FFFF => "guest_cid 0xFFFFFFFF is reserved (VMADDR_CID_ANY)",
        > 0xFFFF_FFFF => $"guest_cid 0x{cid:x} has bits above 32 set; the upper 32 bits are reserved",
        _ => null,
    };

}
