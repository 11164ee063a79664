using System;
using System.Runtime.InteropServices;
using VsockNative.Device;
using VsockNative.Diagnostics;

namespace VsockNative.Interop;

/// <summary>Exports that save a stopped device's state into a blob and continue it in a new device
/// (snapshot and restore, live migration; BEHAVIOUR.md, "Snapshot and restore").</summary>
internal static unsafe class SnapshotExports
{
    /// <summary>Largest blob vsn_device_restore_state looks at (a saved device is a few hundred bytes
    /// plus 8 per listener).</summary>
    private const nuint MaxBlob = 1 << 20;

    /// <summary>Saves the state of a stopped device into the caller's buffer: what a new device, in this
    /// process or another, needs to continue it with the same guest (guest CID, negotiated features, each
    /// queue's size, ring addresses, next avail and used indexes and notification state, the host-port
    /// allocators, the fd API's listening ports and the options). Open connections and host sockets are
    /// not saved: they belong to this process, and end when this device is destroyed (their host peers
    /// read end of stream at once). Call vsn_device_stop first (for vhost-user, GET_VRING_BASE stops it).
    /// Size query: buf NULL returns 0 with the size needed in *size_out.
    /// Threads: any thread; serialized by the device's lock; not from a device callback.</summary>
    /// <param name="device">The device, stopped.</param>
    /// <param name="buf">Receives the blob; NULL to learn its size.</param>
    /// <param name="cap">Bytes buf has room for.</param>
    /// <param name="size_out">Receives the blob's size (also when cap is too small).</param>
    /// <returns>0; -ENOSPC when cap is smaller than the blob (*size_out says how large); -EBUSY while
    /// the device runs; -EINVAL for a NULL size_out, a device without driver features or one that needs
    /// a reset; -EBADF.</returns>
    [UnmanagedCallersOnly(EntryPoint = "vsn_device_save_state")]
    [CSection(AbiSection.Running, 5)]
    public static int SaveState(DeviceHandle device, void* buf, nuint cap, nuint* size_out)
    {
        const string fn = "vsn_device_save_state";
        try
        {
            int rc = Abi.Lookup(device, fn, out var d);
            if (rc != 0) return rc;
            if (size_out == null) return Abi.Reject(d.Log, fn, -Errno.EINVAL, "size_out is NULL");
            rc = d.SaveState(out var snapshot, out var why);
            if (rc < 0) return Abi.Result(d, fn, rc, why);
            int size = SnapshotCodec.SizeOf(snapshot!);
            *size_out = (nuint)size;
            if (buf == null) return 0;
            if (cap < (nuint)size) return Abi.Reject(d.Log, fn, -Errno.ENOSPC, $"the state needs {size} bytes, cap is {cap}");
            SnapshotCodec.Encode(snapshot!, new Span<byte>(buf, size));
            d.Log.Info($"state saved: {size} bytes");
            return 0;
        }
        catch (Exception e) { return Abi.Crash(fn, e); }
    }

    /// <summary>Continues a saved device in this one: a new device (or one just reset) that is not
    /// started, with the memory table of the same guest set (vsn_device_set_mem_table) and no queue set
    /// up. The blob is checked whole before anything changes; refused with -EINVAL and one log line
    /// saying why: another ABI major, an unknown format version, truncated or padded (its size field),
    /// corrupted (its CRC-32), another guest CID or dgram_layout than this device's, features this
    /// device does not offer, a queue size that is not a power of two up to 32768, rings outside the
    /// memory table or misaligned, or ring indexes the guest memory contradicts. Any byte string is safe
    /// to pass. Afterwards the queues stand at their saved sizes, addresses and next avail indexes:
    /// give each its kick and call fds (or interrupt_fn) with vsn_queue_setup, with the addresses the
    /// transport holds (the saved ones unless the guest moved them), and vsn_device_start. The start
    /// posts VIRTIO_VSOCK_EVENT_TRANSPORT_RESET on the event queue, fills no rx buffer until the driver
    /// has given an event buffer back after reading it, and processes the tx chains the guest made
    /// available before the snapshot. The fd API's listeners are only listed in the log: register them
    /// again with vsn_device_listen (their callbacks belong to the program).
    /// Compatibility: a blob starts with the magic "VSNS", a format version, the ABI major, its total
    /// size and a CRC-32 (IEEE, of the bytes after those 16), all little-endian. A library accepts every
    /// format version it knows (1 up to its own) of its own ABI major, whatever the minor or the process
    /// or host that wrote it; a blob from another ABI major is always refused. The blob holds no pointer
    /// and no fd.
    /// Threads: any thread; serialized by the device's lock; not from a device callback.</summary>
    /// <param name="device">The new device, stopped, memory table set.</param>
    /// <param name="buf">The blob vsn_device_save_state wrote.</param>
    /// <param name="len">Its size in bytes.</param>
    /// <returns>0; -EINVAL for a refused blob, a NULL buf, no memory table or queues already set up;
    /// -EBUSY while the device runs; -EBADF.</returns>
    [UnmanagedCallersOnly(EntryPoint = "vsn_device_restore_state")]
    [CSection(AbiSection.Running, 6)]
    public static int RestoreState(DeviceHandle device, [CConst] void* buf, nuint len)
    {
        const string fn = "vsn_device_restore_state";
        try
        {
            int rc = Abi.Lookup(device, fn, out var d);
            if (rc != 0) return rc;
            if (buf == null) return Abi.Reject(d.Log, fn, -Errno.EINVAL, "buf is NULL");
            if (len > MaxBlob) return Abi.Reject(d.Log, fn, -Errno.EINVAL, $"state refused: {len} bytes, larger than any device state ({MaxBlob})");
            return Abi.Result(d, fn, d.RestoreState(new ReadOnlySpan<byte>(buf, (int)len), out var why), why);
        }
        catch (Exception e) { return Abi.Crash(fn, e); }
    }
}
