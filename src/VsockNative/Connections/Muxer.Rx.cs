using System;
using System.Collections.Generic;
using VsockNative.Protocol;
using VsockNative.Wire;

namespace VsockNative.Connections;

// Towards the guest: what waits for rx buffers, sent in a fixed order.
internal sealed partial class Muxer
{
    private readonly Queue<Entry> _ready = new();
    private readonly Queue<PacketHeader> _resets = new();
    /// <summary>RSTs for the connections a device reset dropped (see <see cref="DropConnections"/>).</summary>
    private readonly List<PacketHeader> _staleResets = new();

    /// <summary>Whether a packet waits for an rx buffer: a RST for no connection, or a connection's reply or data.</summary>
    public bool HasPendingRx => _staleResets.Count > 0 || _resets.Count > 0 || _ready.Count > 0;

    /// <summary>The device starts again after a reset. <paramref name="sameDriver"/>: the driver
    /// resumed its rings where they were (a frontend that came back while the guest ran on), so the
    /// guest still has the dropped connections and gets their RSTs; otherwise (new rings: a new
    /// driver or guest) they are forgotten, lest a stale RST hit a new connection on the same ports.</summary>
    public void OnStartAfterReset(bool sameDriver)
    {
        if (!sameDriver) _staleResets.Clear();
    }

    /// <summary>Writes one packet into a guest rx buffer: RSTs for unknown connections first (they
    /// are control packets and need no connection), then connections in turn (each writes its own
    /// control replies before data). Returns the bytes written (0: nothing to send).</summary>
    public uint FillRx(ReadOnlySpan<IoVec> rxBuffer, long nowMs)
    {
        if (ScatterIo.TotalLength(rxBuffer) < VirtioVsockHdr.Size) return 0;
        if (_staleResets.Count > 0)
        {
            _staleResets[^1].Write(rxBuffer);
            _staleResets.RemoveAt(_staleResets.Count - 1);
            return VirtioVsockHdr.Size;
        }
        if (_resets.Count > 0)
        {
            _resets.Dequeue().Write(rxBuffer);
            return VirtioVsockHdr.Size;
        }
        // Each connection waiting now gets one turn: one that cannot use this buffer (nothing left to
        // read after all, or a buffer too small for data) goes back to the end and is not asked twice.
        for (int turns = _ready.Count; turns > 0 && _ready.Count > 0; turns--)
        {
            var entry = _ready.Dequeue();
            entry.InReadyQueue = false;
            if (entry.Removed)
            {
                Recycle(entry);  // freed while it waited here
                continue;
            }
            uint written = entry.Connection.HasPendingRx ? entry.Connection.FillRx(rxBuffer, nowMs) : 0;
            Touch(entry, nowMs);  // back in the queue (at the end: round robin) if it has more
            if (written > 0) return written;
        }
        return 0;
    }

    /// <summary>Owes the guest a RST for a packet that reached no connection (never for a RST).</summary>
    private void QueueReset(in PacketHeader h)
    {
        if (_resets.Count >= _options.MaxPendingResets)
        {
            _counters.ResetsDropped++;
            return;
        }
        _resets.Enqueue(new PacketHeader(HostCidOf(h), h.SrcCid, h.DstPort, h.SrcPort, 0, h.Type,
            (ushort)VirtioVsockOp.Rst, 0, 0, 0));
    }

    /// <summary>Owes the guest a RST for a connection a device reset dropped (bounded by the
    /// connection limit: one per connection).</summary>
    private void QueueStaleReset(in ConnKey key, VirtioVsockType type) =>
        _staleResets.Add(new PacketHeader(key.HostCid, key.GuestCid, key.HostPort, key.GuestPort, 0, (ushort)type,
            (ushort)VirtioVsockOp.Rst, 0, 0, 0));

    /// <summary>The source CID of a reply: the CID the guest addressed, when it is a valid one.</summary>
    private static ulong HostCidOf(in PacketHeader h) => h.DstCid == HostCid ? HostCid : h.DstCid;
}
