using System;
using System.Buffers.Binary;
using VsockNative.Interop;
using VsockNative.Wire;

namespace VsockNative.Device;

/// <summary>One virtio-vsock device: its options, its config space and its log.</summary>
internal sealed class VsockDevice : IDisposable
{
    private readonly byte[] _configSpace = new byte[VirtioVsockConfig.Size];

    public VsockDevice(DeviceOptions options, Logger log)
    {
        Options = options;
        Log = log;
        new VirtioVsockConfig(_configSpace).GuestCid = options.GuestCid;
    }

    public DeviceOptions Options { get; }
    public Logger Log { get; }
    public bool Disposed { get; private set; }

    /// <summary>Copies bytes of the device config space (struct virtio_vsock_config, little-endian).</summary>
    public int ReadConfig(uint offset, Span<byte> destination)
    {
        if (offset > _configSpace.Length || (ulong)offset + (ulong)destination.Length > (ulong)_configSpace.Length)
            return -Errno.EINVAL;
        _configSpace.AsSpan((int)offset, destination.Length).CopyTo(destination);
        return destination.Length;
    }

    public ulong GuestCid => BinaryPrimitives.ReadUInt64LittleEndian(_configSpace);

    public void Dispose() => Disposed = true;
}
