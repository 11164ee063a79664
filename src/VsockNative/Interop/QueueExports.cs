using System;
using VsockNative.Device;
using System.Runtime.InteropServices;
using VsockNative.Memory;
using VsockNative.Diagnostics;

namespace VsockNative.Interop;

/// <summary>Exports that give the device guest memory, features and queues, and run it.
/// Unless stated otherwise a function is thread-safe, and the ones that change memory, features or
/// queues need the device stopped (-EBUSY while it runs).</summary>
internal static unsafe class QueueExports
{
    /// <summary>Gives the device the guest's memory (vhost-user SET_MEM_TABLE). Replaces any earlier
    /// table; queues already set up move to the new one. Every guest address the device uses is checked
    /// against these regions. Needs the device stopped.
    /// Threads: any thread; serialized with the device's other calls by its lock; not from a device callback.</summary>
    /// <param name="device">The device.</param>
    /// <param name="regions">count regions; non-empty, non-overlapping, no wrap-around.</param>
    /// <param name="count">1 to 512.</param>
    /// <returns>0; -EINVAL for a bad table (reason logged); -EBUSY while running; -EBADF.</returns>
    [UnmanagedCallersOnly(EntryPoint = "vsn_device_set_mem_table")]
    [CSection(AbiSection.MemoryAndFeatures, 1)]
    public static int SetMemTable(DeviceHandle device, [CConst] MemRegion* regions, uint count)
    {
        const string fn = "vsn_device_set_mem_table";
        try
        {
            int rc = Abi.Lookup(device, fn, out var d);
            if (rc != 0) return rc;
            if (regions == null || count == 0 || count > GuestMemory.MaxRegions)
                return Abi.Reject(d.Log, fn, -Errno.EINVAL, regions == null ? "regions is NULL" : $"count {count} is not in 1..{GuestMemory.MaxRegions}");
            Span<GuestRegion> table = count <= 64 ? stackalloc GuestRegion[(int)count] : new GuestRegion[count];
            for (int i = 0; i < count; i++)
                table[i] = new GuestRegion(regions[i].GuestPhysAddr, regions[i].Size, (nint)regions[i].HostAddr);
            return Abi.Result(d, fn, d.SetMemory(table, out var why), why);
        }
        catch (Exception e) { return Abi.Crash(fn, e); }
    }

    /// <summary>Records the features the driver accepted (vhost-user SET_FEATURES): a subset of
    /// vsn_device_get_features that includes VIRTIO_F_VERSION_1. Set them before the queues.
    /// Threads: any thread; serialized by the device's lock; not from a device callback.</summary>
    /// <param name="device">The device.</param>
    /// <param name="features">The accepted feature mask.</param>
    /// <returns>0; -EINVAL for features not offered or without VERSION_1; -EBUSY while running or when
    /// queues were set up with other features; -EBADF.</returns>
    [UnmanagedCallersOnly(EntryPoint = "vsn_device_set_features")]
    [CSection(AbiSection.MemoryAndFeatures, 3)]
    public static int SetFeatures(DeviceHandle device, ulong features)
    {
        const string fn = "vsn_device_set_features";
        try
        {
            int rc = Abi.Lookup(device, fn, out var d);
            return rc != 0 ? rc : Abi.Result(d, fn, d.SetFeatures(features, out var why), why);
        }
        catch (Exception e) { return Abi.Crash(fn, e); }
    }

    /// <summary>Sets a queue up (vhost-user SET_VRING_NUM/ADDR/KICK/CALL in one call): ring addresses are
    /// checked against the memory table and their alignment. Needs the memory table and the features.
    /// Threads: any thread; serialized by the device's lock; not from a device callback.</summary>
    /// <param name="device">The device.</param>
    /// <param name="index">VSN_QUEUE_RX, VSN_QUEUE_TX or VSN_QUEUE_EVENT; in the five-queue layout
    /// (dgram_layout VSN_DGRAM_LAYOUT_SEPARATE and VIRTIO_VSOCK_F_DGRAM among the features set) also
    /// VSN_QUEUE_DGRAM_RX (2), VSN_QUEUE_DGRAM_TX (3), and the event queue is VSN_QUEUE_DGRAM_EVENT (4).
    /// The same indexes apply to every vsn_queue_* function and to interrupt_fn's queue_index.</param>
    /// <param name="config">The queue; struct_size must be set.</param>
    /// <returns>0; -EINVAL for a bad index, size, address or alignment (reason logged), or a kick/call
    /// fd that cannot be duplicated (its errno); -EBUSY while running; -EBADF.</returns>
    [UnmanagedCallersOnly(EntryPoint = "vsn_queue_setup")]
    [CSection(AbiSection.Queues, 1)]
    public static int Setup(DeviceHandle device, uint index, [CConst] QueueSetup* config)
    {
        const string fn = "vsn_queue_setup";
        try
        {
            int rc = Abi.Lookup(device, fn, out var d);
            if (rc != 0) return rc;
            if (config == null) return Abi.Reject(d.Log, fn, -Errno.EINVAL, "config is NULL");
            if (config->StructSize < (uint)sizeof(QueueSetup))
                return Abi.Reject(d.Log, fn, -Errno.EINVAL, $"struct_size {config->StructSize}: set it to sizeof(vsn_queue_config)");
            var c = *config;
            var settings = new QueueSettings(c.Size, c.DescAddr, c.AvailAddr, c.UsedAddr, c.KickFd, c.CallFd,
                c.InterruptFn.Fn == null ? null : InterruptSink(c.InterruptFn, (nint)c.InterruptUser));
            return Abi.Result(d, fn, d.SetupQueue(index, settings, out var why), why);
        }
        catch (Exception e) { return Abi.Crash(fn, e); }
    }

    /// <summary>Sets the index of the next available entry the queue will read (vhost-user
    /// SET_VRING_BASE), so a stopped queue or a reconnected device resumes without losing or
    /// repeating a chain. Needs the device stopped.
    /// Threads: any thread; serialized by the device's lock; not from a device callback.</summary>
    /// <param name="device">The device.</param>
    /// <param name="index">The queue.</param>
    /// <param name="last_avail_idx">The free-running avail index to resume from.</param>
    /// <returns>0; -EINVAL for a bad index; -EBUSY while running; -EBADF.</returns>
    [UnmanagedCallersOnly(EntryPoint = "vsn_queue_set_base")]
    [CSection(AbiSection.Queues, 2)]
    public static int SetBase(DeviceHandle device, uint index, ushort last_avail_idx)
    {
        const string fn = "vsn_queue_set_base";
        try
        {
            int rc = Abi.Lookup(device, fn, out var d);
            return rc != 0 ? rc : Abi.Result(d, fn, d.SetBase(index, last_avail_idx, out var why), why);
        }
        catch (Exception e) { return Abi.Crash(fn, e); }
    }

    /// <summary>The index of the next available entry a stopped queue would read (vhost-user
    /// GET_VRING_BASE, after vsn_device_stop).
    /// Threads: any thread; serialized by the device's lock.</summary>
    /// <param name="device">The device.</param>
    /// <param name="index">The queue.</param>
    /// <param name="out_last_avail_idx">Receives the index.</param>
    /// <returns>0; -EINVAL for a bad index or NULL; -EBUSY while running; -EBADF.</returns>
    [UnmanagedCallersOnly(EntryPoint = "vsn_queue_get_base")]
    [CSection(AbiSection.Queues, 3)]
    public static int GetBase(DeviceHandle device, uint index, ushort* out_last_avail_idx)
    {
        const string fn = "vsn_queue_get_base";
        try
        {
            int rc = Abi.Lookup(device, fn, out var d);
            if (rc != 0) return rc;
            if (out_last_avail_idx == null) return Abi.Reject(d.Log, fn, -Errno.EINVAL, "out_last_avail_idx is NULL");
            rc = d.GetBase(index, out var value, out var why);
            if (rc == 0) *out_last_avail_idx = value;
            return Abi.Result(d, fn, rc, why);
        }
        catch (Exception e) { return Abi.Crash(fn, e); }
    }

    /// <summary>Kicks a queue that has no kick fd: the host calls this when the driver notifies the queue.
    /// Cheap and thread-safe: it marks the queue and wakes the event loop (or the next vsn_device_poll).
    /// Threads: any thread, including the device's own callbacks; lock-free.</summary>
    /// <param name="device">The device.</param>
    /// <param name="index">The queue.</param>
    /// <returns>0; -EINVAL for a bad index; -EBADF.</returns>
    [UnmanagedCallersOnly(EntryPoint = "vsn_queue_notify")]
    [CSection(AbiSection.Queues, 4)]
    public static int Notify(DeviceHandle device, uint index)
    {
        const string fn = "vsn_queue_notify";
        try
        {
            int rc = Abi.Lookup(device, fn, out var d);
            return rc != 0 ? rc : Abi.Result(d, fn, d.Notify(index, out var why), why);
        }
        catch (Exception e) { return Abi.Crash(fn, e); }
    }

    /// <summary>Starts the device: configured queues begin processing, on the device's own event-loop
    /// thread, or on the threads that call vsn_device_poll when VSN_DEVICE_F_MANUAL_POLL was given.
    /// Threads: any thread; serialized by the device's lock; not from a device callback.</summary>
    /// <param name="device">The device.</param>
    /// <returns>0; -EINVAL without memory table or features, or when the device needs a reset; -EBUSY
    /// when already running; -EBADF.</returns>
    [UnmanagedCallersOnly(EntryPoint = "vsn_device_start")]
    [CSection(AbiSection.Running, 1)]
    public static int Start(DeviceHandle device)
    {
        const string fn = "vsn_device_start";
        try
        {
            int rc = Abi.Lookup(device, fn, out var d);
            return rc != 0 ? rc : Abi.Result(d, fn, d.Start(out var why), why);
        }
        catch (Exception e) { return Abi.Crash(fn, e); }
    }

    /// <summary>Stops the device and waits for its event loop to finish what it was doing; queues keep
    /// their state (read it with vsn_queue_get_base). Stopping a stopped device does nothing. Must not be
    /// called from an interrupt_fn or log callback.
    /// Threads: any thread except the device's own callbacks and (manual mode) a thread inside vsn_device_poll of this device: it waits for the loop.</summary>
    /// <param name="device">The device.</param>
    /// <returns>0; -EBADF.</returns>
    [UnmanagedCallersOnly(EntryPoint = "vsn_device_stop")]
    [CSection(AbiSection.Running, 2)]
    public static int Stop(DeviceHandle device)
    {
        const string fn = "vsn_device_stop";
        try
        {
            int rc = Abi.Lookup(device, fn, out var d);
            return rc != 0 ? rc : d.Stop();
        }
        catch (Exception e) { return Abi.Crash(fn, e); }
    }

    /// <summary>Resets the device to its state after creation: stopped, without memory table, features,
    /// queues or counters; clears VSN_DEVICE_STATUS_NEEDS_RESET. The config (CID, offered features) stays.
    /// Threads: any thread; serialized by the device's lock; not from a device callback.</summary>
    /// <param name="device">The device.</param>
    /// <returns>0; -EBADF.</returns>
    [UnmanagedCallersOnly(EntryPoint = "vsn_device_reset")]
    [CSection(AbiSection.Lifecycle, 3)]
    public static int Reset(DeviceHandle device)
    {
        const string fn = "vsn_device_reset";
        try
        {
            int rc = Abi.Lookup(device, fn, out var d);
            if (rc != 0) return rc;
            d.Reset();
            return 0;
        }
        catch (Exception e) { return Abi.Crash(fn, e); }
    }

    /// <summary>Manual mode (VSN_DEVICE_F_MANUAL_POLL): waits up to timeout_ms for kicks and processes them
    /// on the calling thread. Must not run concurrently with vsn_device_destroy.
    /// Threads: any one thread at a time (manual mode); callbacks run on it.</summary>
    /// <param name="device">The device.</param>
    /// <param name="timeout_ms">How long to wait; 0 returns at once, -1 waits for an event.</param>
    /// <returns>The number of queues processed (0 on timeout); -EINVAL when not in manual mode or not
    /// started; a negative errno from epoll_wait; -EBADF.</returns>
    [UnmanagedCallersOnly(EntryPoint = "vsn_device_poll")]
    [CSection(AbiSection.Running, 3)]
    public static int Poll(DeviceHandle device, int timeout_ms)
    {
        const string fn = "vsn_device_poll";
        try
        {
            int rc = Abi.Lookup(device, fn, out var d);
            return rc != 0 ? rc : Abi.Result(d, fn, d.Poll(timeout_ms, out var why), why);
        }
        catch (Exception e) { return Abi.Crash(fn, e); }
    }

    /// <summary>The device status: VSN_DEVICE_STATUS_RUNNING, VSN_DEVICE_STATUS_NEEDS_RESET.
    /// Threads: any thread, including the device's callbacks.</summary>
    /// <param name="device">The device.</param>
    /// <param name="out_status">Receives the bits.</param>
    /// <returns>0; -EINVAL for NULL; -EBADF.</returns>
    [UnmanagedCallersOnly(EntryPoint = "vsn_device_get_status")]
    [CSection(AbiSection.Lifecycle, 4)]
    public static int GetStatus(DeviceHandle device, uint* out_status)
    {
        const string fn = "vsn_device_get_status";
        try
        {
            int rc = Abi.Lookup(device, fn, out var d);
            if (rc != 0) return rc;
            if (out_status == null) return Abi.Reject(d.Log, fn, -Errno.EINVAL, "out_status is NULL");
            *out_status = d.Status;
            return 0;
        }
        catch (Exception e) { return Abi.Crash(fn, e); }
    }

    /// <summary>A queue's counters: chains, bytes, bad chains by kind, interrupts.
    /// Threads: any thread, including the device's callbacks (a consistent snapshot under the device's lock).</summary>
    /// <param name="device">The device.</param>
    /// <param name="index">The queue.</param>
    /// <param name="out_counters">Its struct_size must be set; at most that many bytes are written.</param>
    /// <returns>0; -EINVAL for a bad index, NULL or a struct_size below 8; -EBADF.</returns>
    [UnmanagedCallersOnly(EntryPoint = "vsn_queue_get_counters")]
    [CSection(AbiSection.Diagnostics, 1)]
    public static int GetQueueCounters(DeviceHandle device, uint index, QueueCountersAbi* out_counters)
    {
        const string fn = "vsn_queue_get_counters";
        try
        {
            int rc = Abi.Lookup(device, fn, out var d);
            if (rc != 0) return rc;
            rc = d.GetQueueCounters(index, out var values, out var why);
            if (rc != 0) return Abi.Result(d, fn, rc, why);
            return Abi.CopyOut(d, fn, new QueueCountersAbi { QueueIndex = index, Values = values }, out_counters);
        }
        catch (Exception e) { return Abi.Crash(fn, e); }
    }

    /// <summary>The device's counters: packets, malformed packets, kicks, interrupts, the connection
    /// and datagram layers, and the counters of every freed connection added up.
    /// Threads: any thread, including the device's callbacks (a consistent snapshot under the device's lock).</summary>
    /// <param name="device">The device.</param>
    /// <param name="out_counters">Its struct_size must be set; at most that many bytes are written.</param>
    /// <returns>0; -EINVAL for NULL or a struct_size below 8; -EBADF.</returns>
    [UnmanagedCallersOnly(EntryPoint = "vsn_device_get_counters")]
    [CSection(AbiSection.Diagnostics, 2)]
    public static int GetDeviceCounters(DeviceHandle device, DeviceCountersAbi* out_counters)
    {
        const string fn = "vsn_device_get_counters";
        try
        {
            int rc = Abi.Lookup(device, fn, out var d);
            if (rc != 0) return rc;
            return Abi.CopyOut(d, fn, new DeviceCountersAbi { Status = d.Status, Values = d.Counters, Connections = d.ConnectionCounters, Datagrams = d.DatagramCounters, EndedConnections = d.EndedConnectionCounters, Syscalls = d.SyscallCounters, Resources = d.ResourceCounters }, out_counters);
        }
        catch (Exception e) { return Abi.Crash(fn, e); }
    }

    /// <summary>A C interrupt callback as the device sees it (made once per queue setup).</summary>
    private static Action<uint> InterruptSink(InterruptCallback fn, nint user) => queue => fn.Fn((void*)user, queue);
}
