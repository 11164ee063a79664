using System;
using VsockNative.EventLoop;
using VsockNative.Interop;
using VsockNative.Protocol;
using VsockNative.Wire;
using VsockNative.Diagnostics;

namespace VsockNative.Connections;

/// <summary>
/// The datagram layer of one device (VIRTIO_VSOCK_F_DGRAM): connectionless, unreliable, message
/// boundaries kept, no credit. Guest datagrams (type DGRAM, op RW, fragments ending with
/// VIRTIO_VSOCK_DGRAM_EOM) are reassembled (bounded, with a deadline) and handed to a host endpoint:
/// a program's fd (vsn_device_listen / vsn_device_connect) or a Unix SOCK_DGRAM socket of the hybrid convention.
/// Host datagrams wait in a bounded queue and are written into rx buffers, fragmented to fit.
/// Every decision is in Protocol/BEHAVIOUR.md, "Datagrams". Single-threaded: the device's event loop.
/// </summary>
internal sealed partial class DatagramRouter : IDisposable
{
    private readonly ulong _guestCid;
    private readonly DatagramOptions _options;
    private readonly IPollRegistry _poll;
    private readonly Logger _log;
    private readonly DatagramReassembly _reassembly = new();
    private readonly DatagramQueue _toGuest;
    private readonly IoVec[] _sendVecs;
    private DatagramCounters _counters;

    public DatagramRouter(ulong guestCid, DatagramOptions options, IPollRegistry poll, Logger log, int maxSegments)
    {
        _guestCid = guestCid;
        _options = options;
        _poll = poll;
        _log = log;
        _toGuest = new DatagramQueue(options.PendingBytes, 1024);
        _sendVecs = new IoVec[maxSegments + 1];
        InitEndpoints();
    }

    public DatagramCounters Counters => _counters;

    /// <summary>VIRTIO_VSOCK_F_DGRAM was negotiated: datagrams flow. Without it every datagram is dropped and counted.</summary>
    public bool Enabled { get; set; }

    /// <summary>A non-datagram packet came on the queue that carries datagram fragments: a partial
    /// datagram before it is broken (the proposal forbids interleaving) and is dropped.</summary>
    public void OnOtherPacket() => AbortPartial("another packet came between its fragments");

    /// <summary>A datagram packet on a queue that must not carry datagrams (the stream tx queue of the
    /// separate-queue layout): dropped, counted malformed.</summary>
    public void OnWrongQueue(in PacketHeader h)
    {
        _counters.DroppedMalformed++;
        if (_log.Enabled(LogLevel.Warn)) _log.Warn($"datagram on the stream tx queue (separate-queue layout) dropped: {h}");
    }

    /// <summary>One type-DGRAM packet from the tx queue: header (private copy) and payload (guest memory).</summary>
    public void OnGuestPacket(in PacketHeader h, ReadOnlySpan<IoVec> payload, long nowMs)
    {
        if (!Enabled)
        {
            _counters.DroppedNotNegotiated++;
            if (_log.Enabled(LogLevel.Debug)) _log.Write(LogLevel.Debug, $"datagram without VIRTIO_VSOCK_F_DGRAM negotiated dropped: {h}");
            return;
        }
        ulong length = ScatterIo.TotalLength(payload);
        var op = (VirtioVsockOp)h.Op;
        if (h.SrcCid != _guestCid || op is not (VirtioVsockOp.Rw or VirtioVsockOp.Rst) ||
            (op == VirtioVsockOp.Rw && (h.Flags & ~(uint)VirtioVsockDgramFlags.Eom) != 0) || h.Len != length ||
            (op == VirtioVsockOp.Rst && h.Len != 0))
        {
            AbortPartial("a malformed packet came between its fragments");
            _counters.DroppedMalformed++;
            if (_log.Enabled(LogLevel.Warn)) _log.Warn($"malformed datagram packet dropped ({length} bytes follow): {h}");
            return;
        }
        if (op == VirtioVsockOp.Rst)
        {
            AbortPartial("a RST came between its fragments");
            _counters.RstReceived++;
            if (_log.Enabled(LogLevel.Debug)) _log.Write(LogLevel.Debug, $"guest has no datagram socket on port {h.SrcPort} (RST from host port {h.DstPort})");
            return;
        }
        _counters.FragmentsReceived++;
        bool last = (h.Flags & (uint)VirtioVsockDgramFlags.Eom) != 0;
        if (_reassembly.Active && !_reassembly.Continues(h)) AbortPartial("a fragment of another datagram came first");
        if (_reassembly.Active)
        {
            Continue(h, payload, length, last, nowMs);
            return;
        }
        if (last)
        {
            if (length > DatagramOptions.MaxDatagram) DropTooBig(h, length);
            else Deliver(h.SrcPort, h.DstPort, h.DstCid, payload, length, nowMs);
            return;
        }
        _reassembly.Start(h, nowMs + _options.ReassemblyTimeoutMs);
        if (!_reassembly.Append(payload, length)) DropTooBig(h, length);
    }

    private void Continue(in PacketHeader h, ReadOnlySpan<IoVec> payload, ulong length, bool last, long nowMs)
    {
        bool wasDiscarding = _reassembly.Discarding;
        if (!_reassembly.Append(payload, length) && !wasDiscarding) DropTooBig(h, (ulong)_reassembly.Length + length);
        if (!last) return;
        if (!_reassembly.Discarding)
        {
            Span<IoVec> one = stackalloc IoVec[1];
            one[0] = _reassembly.Data;
            Deliver(h.SrcPort, h.DstPort, h.DstCid, one, (ulong)_reassembly.Length, nowMs);
        }
        _reassembly.Reset();
    }

    private void DropTooBig(in PacketHeader h, ulong length)
    {
        _counters.DroppedTooBig++;
        if (_log.Enabled(LogLevel.Warn)) _log.Warn($"guest datagram {h.SrcPort} -> {h.DstPort} of {length}+ bytes exceeds {DatagramOptions.MaxDatagram}: dropped");
    }

    /// <summary>Drops the partial datagram (counted malformed) if there is one.</summary>
    private void AbortPartial(string why)
    {
        if (!_reassembly.Active) return;
        if (!_reassembly.Discarding)
        {
            _counters.DroppedMalformed++;
            if (_log.Enabled(LogLevel.Warn)) _log.Warn($"partial guest datagram {_reassembly.SrcPort} -> {_reassembly.DstPort} ({_reassembly.Length} bytes) dropped: {why}");
        }
        _reassembly.Reset();
    }

    /// <summary>The earliest deadline: the partial datagram's, or the next idle socket's (long.MaxValue: none).</summary>
    public long NextDeadlineMs => Math.Min(_reassembly.DeadlineMs, NextIdleDeadlineMs());

    /// <summary>Runs the deadlines that passed.</summary>
    public void OnTimer(long nowMs)
    {
        if (_reassembly.Active && _reassembly.DeadlineMs <= nowMs)
        {
            if (!_reassembly.Discarding)
            {
                _counters.DroppedReassemblyTimeout++;
                _log.Warn($"partial guest datagram {_reassembly.SrcPort} -> {_reassembly.DstPort} ({_reassembly.Length} bytes): no last fragment within {_options.ReassemblyTimeoutMs} ms; dropped");
            }
            _reassembly.Reset();
        }
        ExpireIdleSockets(nowMs);
    }

    /// <summary>Forgets traffic in flight (device reset, TRANSPORT_RESET): the partial datagram, host
    /// datagrams waiting for rx buffers, owed RSTs. Endpoints stay.</summary>
    public void DropTraffic()
    {
        _reassembly.Reset();
        _toGuest.Clear();
        _resets.Clear();
        _fragmentOffset = 0;
        UpdateReadInterest();
    }

    public void Dispose()
    {
        DropTraffic();
        CloseEndpoints();
    }
}
