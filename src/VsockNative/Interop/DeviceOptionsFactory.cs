using VsockNative.Device;
using VsockNative.Diagnostics;
using VsockNative.Wire;

namespace VsockNative.Interop;

/// <summary>Reads a caller's vsn_device_config into the device's settings.</summary>
internal static unsafe class DeviceOptionsFactory
{
    /// <summary>Checks a caller's config; on failure returns a negative errno and why.</summary>
    public static int TryCreate(in DeviceConfig config, out DeviceOptions? options, out string error)
    {
        options = null;
        error = "";
        if ((config.Flags & ~DeviceFlags.All) != 0 || config.Reserved0 != 0 || config.Reserved1 != 0)
            return Fail(out error, -Errno.EINVAL, $"unknown flags 0x{config.Flags & ~DeviceFlags.All:x} / reserved 0x{config.Reserved0:x} 0x{config.Reserved1:x} must be 0");
        if (DeviceOptions.CidError(config.GuestCid) is { } cidError)
            return Fail(out error, -Errno.EINVAL, cidError);
        ulong features = config.Features == 0 ? DeviceOptions.SupportedFeatures : config.Features;
        if ((features & ~DeviceOptions.SupportedFeatures) != 0)
            return Fail(out error, -Errno.ENOTSUP, $"features 0x{features & ~DeviceOptions.SupportedFeatures:x} are not supported (supported: 0x{DeviceOptions.SupportedFeatures:x})");
        if ((features & VirtioTransportFeatures.Version1) == 0)
            return Fail(out error, -Errno.EINVAL, "VIRTIO_F_VERSION_1 must be offered: this is a virtio 1.x device");
        string? udsPath = null;
        if (config.UdsPath != null)
        {
            var bytes = System.Runtime.InteropServices.MemoryMarshal.CreateReadOnlySpanFromNullTerminated((byte*)config.UdsPath);
            if (bytes.Length == 0 || bytes.Length > DeviceOptions.MaxUdsPathBytes)
                return Fail(out error, -Errno.ENAMETOOLONG, $"uds_path must be 1 to {DeviceOptions.MaxUdsPathBytes} bytes (it gets \"_<port>\" appended and must fit sockaddr_un), got {bytes.Length}");
            udsPath = System.Text.Encoding.UTF8.GetString(bytes);
        }
        uint bufAlloc = config.BufAlloc == 0 ? DeviceOptions.DefaultBufAlloc : config.BufAlloc;
        if (bufAlloc > Protocol.ConnectionLimits.MaxBufAlloc)
            return Fail(out error, -Errno.EINVAL, $"buf_alloc {bufAlloc} exceeds {Protocol.ConnectionLimits.MaxBufAlloc}");
        uint maxConnections = config.MaxConnections == 0 ? DeviceOptions.DefaultMaxConnections : config.MaxConnections;
        if (config.DgramLayout > DgramLayout.Separate)
            return Fail(out error, -Errno.EINVAL, $"dgram_layout {config.DgramLayout} is neither VSN_DGRAM_LAYOUT_SHARED (0) nor VSN_DGRAM_LAYOUT_SEPARATE (1)");
        if (config.DgramLayout == DgramLayout.Separate && (features & VirtioVsockFeatures.Dgram) == 0)
            return Fail(out error, -Errno.EINVAL, "dgram_layout VSN_DGRAM_LAYOUT_SEPARATE needs VIRTIO_VSOCK_F_DGRAM in the offered features");
        uint maxDgramSockets = config.MaxDgramSockets == 0 ? DeviceOptions.DefaultMaxDgramSockets : config.MaxDgramSockets;
        if (maxDgramSockets > DeviceOptions.MaxMaxDgramSockets)
            return Fail(out error, -Errno.EINVAL, $"max_dgram_sockets {maxDgramSockets} exceeds {DeviceOptions.MaxMaxDgramSockets}");
        options = new DeviceOptions(config.GuestCid, features, (config.Flags & DeviceFlags.ManualPoll) != 0, udsPath, bufAlloc, maxConnections,
            config.DgramLayout == DgramLayout.Separate, maxDgramSockets)
        {
            RouteHost = (config.Flags & DeviceFlags.RouteHost) != 0,
        };
        return 0;
    }

    private static int Fail(out string error, int errno, string message)
    {
        error = message;
        return errno;
    }
}
