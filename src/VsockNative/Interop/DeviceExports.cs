using System;
using System.Runtime.InteropServices;
using VsockNative.Device;
using VsockNative.Diagnostics;

namespace VsockNative.Interop;

/// <summary>Exports that create, destroy and describe a device.</summary>
internal static unsafe class DeviceExports
{
    private const uint MaxConfigSize = 4096;

    /// <summary>Creates a device from a config. The hybrid socket (uds_path, and its datagram hub
    /// "&lt;uds_path&gt;_dgram") is bound and listening from here on, not only from vsn_device_start: a host
    /// program may connect and write its CONNECT line before the guest's driver is up; it waits in the
    /// listen backlog and is served (or refused when the handshake times out) once the device starts.
    /// vsn_device_destroy closes and removes it.
    /// Threads: any thread (devices are independent; the handle table is a concurrent map).</summary>
    /// <param name="config">The settings; struct_size must be set (see vsn_device_config).</param>
    /// <param name="out_device">Receives the new device; untouched on failure.</param>
    /// <returns>0; -EINVAL for a NULL pointer, a reserved guest CID (0, 1, 2, 0xFFFFFFFF or above 32 bits),
    /// a struct_size below VSN_DEVICE_CONFIG_MIN_SIZE or not a multiple of 8 (the sizeof of every version of
    /// the struct is, so a size that ends inside a field, such as half of log_fn, is never a caller's),
    /// or non-zero reserved fields; -E2BIG for a larger
    /// struct whose unknown bytes are not zero; -ENOTSUP for feature bits the library lacks; the
    /// negative errno of socket/bind/listen when uds_path cannot be bound. The reason is logged (to config's log_fn when given, else the process-wide callback).</returns>
    [UnmanagedCallersOnly(EntryPoint = "vsn_device_create")]
    [CSection(AbiSection.Lifecycle, 1)]
    public static int Create([CConst] DeviceConfig* config, DeviceHandle* out_device)
    {
        const string fn = "vsn_device_create";
        try
        {
            if (config == null || out_device == null)
                return Abi.Reject(Logger.Global, fn, -Errno.EINVAL, config == null ? "config is NULL" : "out_device is NULL");
            int rc = CopyConfig(config, out var copy, out var why);
            var log = copy.LogFn.Fn != null ? CLogSink.Create(copy.LogFn, (nint)copy.LogUser, copy.LogLevel) : Logger.Global;
            if (rc != 0) return Abi.Reject(log, fn, rc, why);
            rc = DeviceOptionsFactory.TryCreate(copy, out var options, out why);
            if (rc != 0) return Abi.Reject(log, fn, rc, why);
            if (copy.NeedsResetFn.Fn != null) options!.NeedsReset = NeedsResetSink(copy.NeedsResetFn, (nint)copy.NeedsResetUser);
            rc = VsockDevice.Create(options!, log, out var device);
            if (rc < 0) return Abi.Reject(log, fn, rc, "cannot create the device's epoll instance or eventfd");
            rc = device!.OpenEndpoints(out why);
            if (rc < 0)
            {
                device.Dispose();
                return Abi.Reject(log, fn, rc, why);
            }
            out_device->Value = Abi.Devices.Add(device!);
            log.Info($"device created: guest_cid {options!.GuestCid}, features 0x{options.OfferedFeatures:x}");
            return 0;
        }
        catch (Exception e) { return Abi.Crash(fn, e); }
    }

    /// <summary>Destroys a device and frees everything it holds. Safe to call twice or with NULL: the
    /// second call returns -EBADF and changes nothing. Must not run concurrently with other calls on the
    /// same device (like free()).
    /// Threads: like free(): not concurrently with any other call on the same device, and never from its callbacks.</summary>
    /// <param name="device">The device, or NULL.</param>
    /// <returns>0; 0 for NULL; -EBADF for a handle that is unknown or already destroyed.</returns>
    [UnmanagedCallersOnly(EntryPoint = "vsn_device_destroy")]
    [CSection(AbiSection.Lifecycle, 2)]
    public static int Destroy(DeviceHandle device)
    {
        const string fn = "vsn_device_destroy";
        try
        {
            if (device.Value == 0) return 0;
            if (!Abi.Devices.TryRemove(device.Value, out var d))
                return Abi.Reject(Logger.Global, fn, -Errno.EBADF, $"unknown or already destroyed device handle 0x{device.Value:x}");
            d.Dispose();
            d.Log.Info("device destroyed");
            return 0;
        }
        catch (Exception e) { return Abi.Crash(fn, e); }
    }

    /// <summary>The feature bits the device offers (what a transport reports as device features).
    /// Threads: any thread, including the device's callbacks (the mask never changes).</summary>
    /// <param name="device">The device.</param>
    /// <param name="out_features">Receives the mask.</param>
    /// <returns>0; -EBADF for an unknown device; -EINVAL for NULL out_features.</returns>
    [UnmanagedCallersOnly(EntryPoint = "vsn_device_get_features")]
    [CSection(AbiSection.MemoryAndFeatures, 2)]
    public static int GetFeatures(DeviceHandle device, ulong* out_features)
    {
        const string fn = "vsn_device_get_features";
        try
        {
            int rc = Abi.Lookup(device, fn, out var d);
            if (rc != 0) return rc;
            if (out_features == null) return Abi.Reject(d.Log, fn, -Errno.EINVAL, "out_features is NULL");
            *out_features = d.Options.OfferedFeatures;
            return 0;
        }
        catch (Exception e) { return Abi.Crash(fn, e); }
    }

    /// <summary>Reads the device config space (struct vsn_virtio_vsock_config, little-endian), as a
    /// transport does for a driver's config read.
    /// Threads: any thread, including the device's callbacks (the config space never changes).</summary>
    /// <param name="device">The device.</param>
    /// <param name="offset">Byte offset into the config space.</param>
    /// <param name="buffer">Receives len bytes.</param>
    /// <param name="len">Number of bytes; offset + len must not exceed sizeof(vsn_virtio_vsock_config).</param>
    /// <returns>The number of bytes copied; -EBADF for an unknown device; -EINVAL for a NULL buffer or a
    /// range outside the config space.</returns>
    [UnmanagedCallersOnly(EntryPoint = "vsn_device_read_config")]
    [CSection(AbiSection.MemoryAndFeatures, 4)]
    public static int ReadConfig(DeviceHandle device, uint offset, void* buffer, uint len)
    {
        const string fn = "vsn_device_read_config";
        try
        {
            int rc = Abi.Lookup(device, fn, out var d);
            if (rc != 0) return rc;
            if (buffer == null && len != 0) return Abi.Reject(d.Log, fn, -Errno.EINVAL, "buffer is NULL");
            if (len > MaxConfigSize) return Abi.Reject(d.Log, fn, -Errno.EINVAL, $"len {len} exceeds the config space");
            rc = d.ReadConfig(offset, new Span<byte>(buffer, (int)len));
            return rc < 0 ? Abi.Reject(d.Log, fn, rc, $"range [{offset}, {(ulong)offset + len}) is outside the {Wire.VirtioVsockConfig.Size}-byte config space") : rc;
        }
        catch (Exception e) { return Abi.Crash(fn, e); }
    }

    /// <summary>Copies a caller's size-prefixed config (Linux copy_struct_from_user rules). On -E2BIG the
    /// known part is copied, so the rejection still reaches the caller's log_fn.</summary>
    /// <summary>The C needs-reset callback as the device sees it.</summary>
    private static Action<uint, string> NeedsResetSink(NeedsResetCallback fn, nint user) => (queue, reason) =>
    {
        var bytes = new byte[System.Text.Encoding.UTF8.GetByteCount(reason) + 1];
        System.Text.Encoding.UTF8.GetBytes(reason, bytes);
        fixed (byte* p = bytes) fn.Fn((void*)user, queue, (sbyte*)p);
    };

    private static int CopyConfig(DeviceConfig* config, out DeviceConfig copy, out string why)
    {
        copy = default;
        why = "";
        uint size = config->StructSize;
        uint known = (uint)sizeof(DeviceConfig);
        if (size < DeviceConfig.MinSize)
        {
            why = $"struct_size {size} is below the minimum {DeviceConfig.MinSize}: set it to sizeof(vsn_device_config)";
            return -Errno.EINVAL;
        }
        if (size % 8 != 0)
        {
            // Every vsn_device_config a header ever declared ends on a field boundary: its fields are
            // 8-byte aligned pointers and pairs of 32-bit values, so its sizeof is a multiple of 8. A
            // size that ends inside a field would hand the device part of a pointer (log_fn, uds_path,
            // needs_reset_fn) to call or read: refused (found by fuzz/native c-abi).
            why = $"struct_size {size} is not a multiple of 8, so not the sizeof of any vsn_device_config: set it to sizeof(vsn_device_config)";
            return -Errno.EINVAL;
        }
        if (size > MaxConfigSize)
        {
            why = $"struct_size {size} is implausibly large (limit {MaxConfigSize})";
            return -Errno.E2BIG;
        }
        var source = new ReadOnlySpan<byte>(config, (int)size);
        fixed (DeviceConfig* dst = &copy)
            source.Slice(0, (int)Math.Min(size, known)).CopyTo(new Span<byte>(dst, (int)known));
        if (size > known && source.Slice((int)known).IndexOfAnyExcept((byte)0) >= 0)
        {
            why = $"struct_size {size} is larger than this library knows ({known}) and the extra bytes are not zero";
            return -Errno.E2BIG;
        }
        return 0;
    }
}
