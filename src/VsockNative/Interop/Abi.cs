using System;
using VsockNative.Diagnostics;

namespace VsockNative.Interop;

/// <summary>Shared plumbing of the exports: the device table, the error paths. Every export wraps its
/// body so that no exception ever crosses into C: it becomes a logged negative errno.</summary>
internal static class Abi
{
    public static readonly HandleTable<Device.VsockDevice> Devices = new();

    /// <summary>Logs why an argument was rejected and returns the (negative) errno.</summary>
    public static int Reject(Logger log, string function, int errno, string why)
    {
        log.Error($"{function}: {why} ({ErrnoName(errno)})");
        return errno;
    }

    /// <summary>The catch-all of every export: an exception is a library bug, reported as -EIO.</summary>
    public static int Crash(string function, Exception e)
    {
        Logger.Global.Error($"{function}: internal error: {e.GetType().Name}: {e.Message}");
        return -Errno.EIO;
    }

    /// <summary>Looks a device handle up; logs and returns -EBADF for NULL or unknown handles.</summary>
    public static int Lookup(DeviceHandle handle, string function, out Device.VsockDevice device)
    {
        if (handle.Value != 0 && Devices.TryGet(handle.Value, out device)) return 0;
        device = null!;
        return Reject(Logger.Global, function, -Errno.EBADF,
            handle.Value == 0 ? "device is NULL" : $"unknown or destroyed device handle 0x{handle.Value:x}");
    }

    /// <summary>Passes a device method's result through, logging the reason of a failure.</summary>
    public static int Result(Device.VsockDevice device, string function, int rc, string why) =>
        rc < 0 ? Reject(device.Log, function, rc, why) : rc;

    /// <summary>Writes a size-prefixed output struct: the caller's struct_size (its first field) says how
    /// many bytes it has room for; the library writes at most that, and its own size at most.</summary>
    public static unsafe int CopyOut<T>(Device.VsockDevice device, string function, T value, void* destination) where T : unmanaged
    {
        if (destination == null) return Reject(device.Log, function, -Errno.EINVAL, "output struct is NULL");
        uint size = *(uint*)destination;
        if (size < 8) return Reject(device.Log, function, -Errno.EINVAL, $"struct_size {size}: set it to the sizeof of the struct");
        *(uint*)&value = size;
        new ReadOnlySpan<byte>(&value, (int)Math.Min(size, (uint)sizeof(T))).CopyTo(new Span<byte>(destination, (int)Math.Min(size, (uint)sizeof(T))));
        return 0;
    }

    private static string ErrnoName(int errno) => -errno switch
    {
        Errno.E2BIG => "E2BIG",
        Errno.EBADF => "EBADF",
        Errno.ENOMEM => "ENOMEM",
        Errno.EFAULT => "EFAULT",
        Errno.EBUSY => "EBUSY",
        Errno.EINVAL => "EINVAL",
        Errno.ERANGE => "ERANGE",
        Errno.ENOTSUP => "ENOTSUP",
        Errno.ENOSPC => "ENOSPC",
        _ => "errno " + (-errno),
    };
}
