using System;
using System.Runtime.InteropServices;
using VsockNative.Protocol;
using VsockNative.Diagnostics;

namespace VsockNative.Interop;

/// <summary>Per-connection diagnosis: identity, state, credit and counters of every open connection.</summary>
internal static unsafe class ConnectionInfoExports
{
    /// <summary>Snapshots the device's open connections (identity, state, credit both ways and the
    /// per-connection counters: packets, bytes, drops, resets) into an array the caller owns, in no
    /// particular order.
    /// Threads: any thread while the device runs (takes the device's lock for the copy); not from the
    /// device's own callbacks.</summary>
    /// <param name="device">The device.</param>
    /// <param name="out_infos">Receives up to capacity entries, entry_size bytes apart; may be NULL when
    /// capacity is 0 (to learn the count).</param>
    /// <param name="capacity">Entries out_infos has room for.</param>
    /// <param name="entry_size">sizeof(vsn_connection_info) as the caller compiled it (a multiple of 8,
    /// at least 8): the library writes at most that many bytes per entry and zeroes fields it lacks.</param>
    /// <param name="out_total">Receives how many connections are open (may exceed capacity); may be NULL.</param>
    /// <returns>The number of entries written; -EINVAL for a bad entry_size or NULL out_infos with a
    /// non-zero capacity; -EBADF.</returns>
    [UnmanagedCallersOnly(EntryPoint = "vsn_device_get_connections")]
    [CSection(AbiSection.Diagnostics, 3)]
    public static int GetConnections(DeviceHandle device, ConnectionInfo* out_infos, uint capacity, uint entry_size, uint* out_total)
    {
        const string name = "vsn_device_get_connections";
        try
        {
            int rc = Abi.Lookup(device, name, out var d);
            if (rc != 0) return rc;
            if (entry_size < 8 || entry_size % 8 != 0 || entry_size > 1u << 16)
                return Abi.Reject(d.Log, name, -Errno.EINVAL, $"entry_size {entry_size}: pass sizeof(vsn_connection_info)");
            if (out_infos == null && capacity != 0)
                return Abi.Reject(d.Log, name, -Errno.EINVAL, "out_infos is NULL but capacity is not 0");
            var snapshot = new ConnectionInfo[Math.Min(capacity, d.Options.MaxConnections)];
            int total = d.ConnectionSnapshot(snapshot);
            int written = Math.Min(total, snapshot.Length);
            int copy = (int)Math.Min(entry_size, (uint)sizeof(ConnectionInfo));
            for (int i = 0; i < written; i++)
            {
                var entry = new Span<byte>((byte*)out_infos + (nuint)i * entry_size, (int)entry_size);
                entry.Clear();
                fixed (ConnectionInfo* src = &snapshot[i])
                    new ReadOnlySpan<byte>(src, copy).CopyTo(entry);
            }
            if (out_total != null) *out_total = (uint)total;
            return written;
        }
        catch (Exception e) { return Abi.Crash(name, e); }
    }
}
