using System;
using System.Collections.Generic;
using VsockNative.Interop;
using VsockNative.Protocol;
using VsockNative.Wire;
using VsockNative.Diagnostics;

namespace VsockNative.Connections;

// Towards the guest: RSTs for datagrams that found no socket, then host datagrams in arrival order,
// each fragmented into as many rx buffers as it needs (VIRTIO_VSOCK_DGRAM_EOM on the last).
internal sealed partial class DatagramRouter
{
    private readonly Queue<PacketHeader> _resets = new();
    /// <summary>Payload bytes of the oldest waiting datagram already written (0: none started).</summary>
    private int _fragmentOffset;
    private bool _started;

    /// <summary>Whether a packet waits for an rx buffer.</summary>
    public bool HasPendingRx => _resets.Count > 0 || !_toGuest.IsEmpty;

    /// <summary>A datagram is half written: the proposal requires its remaining fragments before any
    /// other packet on the same rx queue, so the device gives the next rx buffers to this layer.</summary>
    public bool MustContinue => _started;

    /// <summary>Writes one packet into a guest rx buffer; returns the bytes written (0: nothing, the
    /// buffer stays with the caller).</summary>
    public uint FillRx(ReadOnlySpan<IoVec> rxBuffer)
    {
        ulong room = ScatterIo.TotalLength(rxBuffer);
        if (room < VirtioVsockHdr.Size) return 0;
        if (!_started && _resets.Count > 0)
        {
            _resets.Dequeue().Write(rxBuffer);
            return VirtioVsockHdr.Size;
        }
        if (_toGuest.IsEmpty) return 0;
        var r = _toGuest.Peek();
        int left = r.Length - _fragmentOffset;
        int n = (int)Math.Min((ulong)left, room - VirtioVsockHdr.Size);
        bool last = n == left;
        new PacketHeader(Muxer.HostCid, _guestCid, r.SrcPort, r.DstPort, (uint)n, (ushort)VirtioVsockType.Dgram,
            (ushort)VirtioVsockOp.Rw, last ? (uint)VirtioVsockDgramFlags.Eom : 0, 0, 0).Write(rxBuffer);
        ScatterIo.Scatter(rxBuffer, VirtioVsockHdr.Size, _toGuest.Payload(r).Slice(_fragmentOffset, n));
        _counters.FragmentsSent++;
        if (last)
        {
            _counters.HostToGuestDatagrams++;
            _counters.HostToGuestBytes += (ulong)r.Length;
            _toGuest.Dequeue();
            _fragmentOffset = 0;
            _started = false;
            UpdateReadInterest();
        }
        else
        {
            _fragmentOffset += n;
            _started = true;
        }
        return VirtioVsockHdr.Size + (uint)n;
    }

    /// <summary>A host datagram for guest port <paramref name="dstPort"/> from host port
    /// <paramref name="srcPort"/>: queued for the guest (the caller checked it fits).</summary>
    private void QueueForGuest(uint srcPort, uint dstPort, ReadOnlySpan<byte> payload)
    {
        if (!Enabled)
        {
            _counters.DroppedNotNegotiated++;
            return;
        }
        if (payload.Length > DatagramOptions.MaxDatagram)
        {
            _counters.DroppedTooBig++;
            if (_log.Enabled(LogLevel.Warn)) _log.Warn($"host datagram {srcPort} -> guest port {dstPort} of {payload.Length} bytes exceeds {DatagramOptions.MaxDatagram}: dropped");
            return;
        }
        if (!_toGuest.TryEnqueue(srcPort, dstPort, payload)) _counters.DroppedNoRxSpace++;
    }

    /// <summary>Owes the guest a RST of type DGRAM: its datagram reached no socket.</summary>
    private void QueueReset(uint guestPort, uint hostPort, ulong hostCid)
    {
        if (_resets.Count >= _options.MaxPendingResets)
        {
            _counters.ResetsDropped++;
            return;
        }
        _counters.RstSent++;
        _resets.Enqueue(new PacketHeader(hostCid, _guestCid, hostPort, guestPort, 0, (ushort)VirtioVsockType.Dgram,
            (ushort)VirtioVsockOp.Rst, 0, 0, 0));
    }
}
