using System;
using VsockNative.Interop;
using VsockNative.Wire;

namespace VsockNative.Device;

/// <summary>Validated device settings: built only from a config that passed every check.</summary>
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

    private DeviceOptions(ulong guestCid, ulong features, uint flags, string? udsPath, uint bufAlloc, uint maxConnections,
        uint dgramLayout, uint maxDgramSockets)
    {
        DgramLayout = dgramLayout;
        MaxDgramSockets = maxDgramSockets;
        GuestCid = guestCid;
        OfferedFeatures = features;
        ManualPoll = (flags & DeviceFlags.ManualPoll) != 0;
        UdsPath = udsPath;
        BufAlloc = bufAlloc;
        MaxConnections = maxConnections;
    }

    /// <summary>The hybrid-vsock socket path, or null.</summary>
    public string? UdsPath { get; }
    /// <summary>Per-connection buffer for guest-to-host data: the buf_alloc the device advertises.</summary>
    public uint BufAlloc { get; }
    public uint MaxConnections { get; }
    /// <summary>VSN_DGRAM_LAYOUT_*: where datagrams travel once VIRTIO_VSOCK_F_DGRAM is negotiated.</summary>
    public uint DgramLayout { get; }
    public uint MaxDgramSockets { get; }

    public ulong GuestCid { get; }
    public ulong OfferedFeatures { get; }

    /// <summary>No event-loop thread: the host drives the device with vsn_device_poll.</summary>
    public bool ManualPoll { get; }

    /// <summary>Told (queue index or <c>uint.MaxValue</c>, reason) once when the device needs a reset;
    /// called on the loop thread outside the device's lock. Set by the interop layer.</summary>
    public Action<uint, string>? NeedsReset { get; set; }

    /// <summary>Checks a caller's config; on failure returns a negative errno and why.</summary>
    public static unsafe int TryCreate(in DeviceConfig config, out DeviceOptions? options, out string error)
    {
        options = null;
        error = "";
        if ((config.Flags & ~DeviceFlags.All) != 0 || config.Reserved0 != 0 || config.Reserved1 != 0)
            return Fail(out error, -Errno.EINVAL, $"unknown flags 0x{config.Flags & ~DeviceFlags.All:x} / reserved 0x{config.Reserved0:x} 0x{config.Reserved1:x} must be 0");
        if (CidError(config.GuestCid) is { } cidError)
            return Fail(out error, -Errno.EINVAL, cidError);
        ulong features = config.Features == 0 ? SupportedFeatures : config.Features;
        if ((features & ~SupportedFeatures) != 0)
            return Fail(out error, -Errno.ENOTSUP, $"features 0x{features & ~SupportedFeatures:x} are not supported (supported: 0x{SupportedFeatures:x})");
        if ((features & VirtioTransportFeatures.Version1) == 0)
            return Fail(out error, -Errno.EINVAL, "VIRTIO_F_VERSION_1 must be offered: this is a virtio 1.x device");
        string? udsPath = null;
        if (config.UdsPath != null)
        {
            var bytes = System.Runtime.InteropServices.MemoryMarshal.CreateReadOnlySpanFromNullTerminated((byte*)config.UdsPath);
            if (bytes.Length == 0 || bytes.Length > MaxUdsPathBytes)
                return Fail(out error, -Errno.ENAMETOOLONG, $"uds_path must be 1 to {MaxUdsPathBytes} bytes (it gets \"_<port>\" appended and must fit sockaddr_un), got {bytes.Length}");
            udsPath = System.Text.Encoding.UTF8.GetString(bytes);
        }
        uint bufAlloc = config.BufAlloc == 0 ? DefaultBufAlloc : config.BufAlloc;
        if (bufAlloc > Protocol.ConnectionLimits.MaxBufAlloc)
            return Fail(out error, -Errno.EINVAL, $"buf_alloc {bufAlloc} exceeds {Protocol.ConnectionLimits.MaxBufAlloc}");
        uint maxConnections = config.MaxConnections == 0 ? DefaultMaxConnections : config.MaxConnections;
        if (config.DgramLayout > Interop.DgramLayout.Separate)
            return Fail(out error, -Errno.EINVAL, $"dgram_layout {config.DgramLayout} is neither VSN_DGRAM_LAYOUT_SHARED (0) nor VSN_DGRAM_LAYOUT_SEPARATE (1)");
        if (config.DgramLayout == Interop.DgramLayout.Separate && (features & VirtioVsockFeatures.Dgram) == 0)
            return Fail(out error, -Errno.EINVAL, "dgram_layout VSN_DGRAM_LAYOUT_SEPARATE needs VIRTIO_VSOCK_F_DGRAM in the offered features");
        uint maxDgramSockets = config.MaxDgramSockets == 0 ? DefaultMaxDgramSockets : config.MaxDgramSockets;
        if (maxDgramSockets > MaxMaxDgramSockets)
            return Fail(out error, -Errno.EINVAL, $"max_dgram_sockets {maxDgramSockets} exceeds {MaxMaxDgramSockets}");
        options = new DeviceOptions(config.GuestCid, features, config.Flags, udsPath, bufAlloc, maxConnections, config.DgramLayout, maxDgramSockets);
        return 0;
    }

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

    private static int Fail(out string error, int errno, string message)
    {
        error = message;
        return errno;
    }
}
