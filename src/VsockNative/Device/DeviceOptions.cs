using VsockNative.Interop;
using VsockNative.Wire;

namespace VsockNative.Device;

/// <summary>Validated device settings: built only from a config that passed every check.</summary>
internal sealed class DeviceOptions
{
    /// <summary>Feature bits this library implements and offers by default.</summary>
    public const ulong SupportedFeatures =
        VirtioTransportFeatures.Version1 | VirtioTransportFeatures.IndirectDesc | VirtioTransportFeatures.EventIdx |
        VirtioVsockFeatures.Stream | VirtioVsockFeatures.Seqpacket;

    private DeviceOptions(ulong guestCid, ulong features, uint flags)
    {
        GuestCid = guestCid;
        OfferedFeatures = features;
        ManualPoll = (flags & DeviceFlags.ManualPoll) != 0;
    }

    public ulong GuestCid { get; }
    public ulong OfferedFeatures { get; }

    /// <summary>No event-loop thread: the host drives the device with vsn_device_poll.</summary>
    public bool ManualPoll { get; }

    /// <summary>Checks a caller's config; on failure returns a negative errno and why.</summary>
    public static int TryCreate(in DeviceConfig config, out DeviceOptions? options, out string error)
    {
        options = null;
        error = "";
        if ((config.Flags & ~DeviceFlags.All) != 0 || config.Reserved0 != 0)
            return Fail(out error, -Errno.EINVAL, $"unknown flags 0x{config.Flags & ~DeviceFlags.All:x} / reserved 0x{config.Reserved0:x} must be 0");
        if (CidError(config.GuestCid) is { } cidError)
            return Fail(out error, -Errno.EINVAL, cidError);
        ulong features = config.Features == 0 ? SupportedFeatures : config.Features;
        if ((features & ~SupportedFeatures) != 0)
            return Fail(out error, -Errno.ENOTSUP, $"features 0x{features & ~SupportedFeatures:x} are not supported (supported: 0x{SupportedFeatures:x})");
        if ((features & VirtioTransportFeatures.Version1) == 0)
            return Fail(out error, -Errno.EINVAL, "VIRTIO_F_VERSION_1 must be offered: this is a virtio 1.x device");
        options = new DeviceOptions(config.GuestCid, features, config.Flags);
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
