using System;
using VsockNative.Connections;
using VsockNative.Interop;
using VsockNative.Interop.Native;
using VsockNative.Protocol;
using VsockNative.Virtqueue;
using VsockNative.Wire;
using VsockNative.Diagnostics;

namespace VsockNative.Device;

/// <summary>
/// Moves packets between the device's queues and its backend: tx chains become guest packets
/// (header copied once, checked against the chain), packets the backend has for the guest go into
/// rx buffers, a pending event goes into an event buffer. Every queue goes through the same pop
/// loop (<see cref="DeviceQueue.PopNext"/>); a chain is returned used or given back, never held.
/// Runs under the device's lock, on its event loop (or a control call that must reach the guest).
/// </summary>
internal sealed class QueuePump
{
    /// <summary>Used entries published at least this often, so the driver can recycle buffers early.</summary>
    private const int PublishBatch = 64;

    private readonly DeviceQueue[] _q;
    private readonly IVsockBackend _backend;
    private readonly Logger _log;
    private readonly IoVec[] _payload = new IoVec[DeviceQueue.MaxSegments];

    public QueuePump(DeviceQueue[] queues, IVsockBackend backend, Logger log)
    {
        _q = queues;
        _backend = backend;
        _log = log;
    }

    /// <summary>The device's counters (the pump counts packets, kicks and interrupts).</summary>
    public DeviceCounters Counters;

    /// <summary>A TRANSPORT_RESET event waits for an event buffer.</summary>
    public bool TransportResetPending { get; set; }

    /// <summary>A TRANSPORT_RESET event is owed to the driver (counted).</summary>
    public void PostTransportReset()
    {
        TransportResetPending = true;
        Counters.TransportResets++;
    }

    /// <summary>Holds rx back after a restore until the driver has acted on TRANSPORT_RESET.</summary>
    public RestoreGate Gate { get; } = new();

    /// <summary>The five-queue layout is in use (datagram rx/tx are queues of their own).</summary>
    public bool SeparateDatagramQueues { get; set; }

    /// <summary>Processes a kicked tx or event queue (rx queues are filled by <see cref="FillAllRx"/>).</summary>
    public void Process(uint slot, long nowMs)
    {
        if (slot is QueueSlot.Tx or QueueSlot.DgramTx) ProcessTx(slot, nowMs);
        else if (slot == QueueSlot.Event) ProcessEvent();
    }

    /// <summary>Fills the rx queues while the backend has packets for them.</summary>
    public void FillAllRx(long nowMs)
    {
        if (Gate.HoldsRx && !OpenGateIfAcked()) return;
        FillRx(QueueSlot.Rx, nowMs);
        if (SeparateDatagramQueues) FillRx(QueueSlot.DgramRx, nowMs);
    }

    private void ProcessTx(uint slot, long nowMs)
    {
        var q = _q[slot];
        q.Ring.DisableKicks();
        int sincePublish = 0;
        while (q.PopNext(_log))
        {
            HandleTxPacket(q.Chain, slot, nowMs);
            q.Ring.PushUsed(q.Chain.HeadIndex, 0);
            if (++sincePublish == PublishBatch)
            {
                PublishAndInterrupt(slot, now: true);
                sincePublish = 0;
            }
        }
        PublishAndInterrupt(slot);
    }

    /// <summary>Reads the header once into a private copy and checks it against the chain.</summary>
    private void HandleTxPacket(DescriptorChain chain, uint slot, long nowMs)
    {
        Span<byte> copy = stackalloc byte[VirtioVsockHdr.Size];
        if (chain.ReadableLength < VirtioVsockHdr.Size || chain.WritableCount != 0)
        {
            Counters.TxMalformed++;
            return;
        }
        new VirtioVsockHdrScatter(chain.Readable).CopyTo(copy);
        var h = PacketHeader.Read(copy);
        uint follow = chain.ReadableLength - VirtioVsockHdr.Size;
        // Only datagrams travel on the datagram tx queue: anything else is dropped here, one
        // malformed packet whatever else is wrong with it, and not a tx packet.
        if (slot == QueueSlot.DgramTx && h.Type != (ushort)VirtioVsockType.Dgram)
        {
            Counters.TxMalformed++;
            if (_log.Enabled(LogLevel.Warn)) _log.Warn($"type {h.Type} packet on the datagram tx queue dropped: {h}");
            return;
        }
        if (h.Len != follow)
        {
            // The backend sees the bytes that really follow, finds the length mismatch and answers
            // with RST (resetting the connection if there is one), so the sender learns of it.
            Counters.TxMalformed++;
            if (_log.Enabled(LogLevel.Warn)) _log.Warn($"tx packet {h.SrcPort}->{h.DstPort}: hdr.len {h.Len} but {follow} bytes follow; answered with RST unless it is a RST");
        }
        else
        {
            Counters.TxPackets++;
            Counters.TxPayloadBytes += h.Len;
        }
        int n = IoVecRange.Take(chain.Readable, VirtioVsockHdr.Size, follow, _payload);
        _backend.OnGuestPacket(h, _payload.AsSpan(0, n), slot == QueueSlot.DgramTx ? BackendQueue.Datagram : BackendQueue.Stream, nowMs);
    }

    /// <summary>Writes packets into the buffers of an rx queue while there are both. A buffer the device
    /// can never use (device-readable, smaller than a header) is returned with length 0 and counted; a
    /// header-only buffer while only data waits is returned too, so the data behind it flows; a buffer
    /// nothing fits in now is given back to the ring (BEHAVIOUR.md, "Rx buffers").</summary>
    private void FillRx(uint slot, long nowMs)
    {
        var q = _q[slot];
        if (!q.Configured) return;
        var kind = slot == QueueSlot.DgramRx ? BackendQueue.Datagram : BackendQueue.Stream;
        int sincePublish = 0;
        while (_backend.HasPendingRx(kind) && q.PopNext(_log))
        {
            var chain = q.Chain;
            if (chain.ReadableCount != 0)
            {
                q.ReturnUnusable(UnusableChain.Readable, _log);
                continue;
            }
            if (chain.WritableLength < VirtioVsockHdr.Size)
            {
                q.ReturnUnusable(UnusableChain.TooSmall, _log);
                continue;
            }
            uint written = _backend.FillRx(kind, chain.Writable, nowMs);
            if (written == 0)
            {
                if (chain.WritableLength == VirtioVsockHdr.Size && _backend.HasPendingRx(kind))
                {
                    q.ReturnUnusable(UnusableChain.HeaderOnly, _log);  // only data waits: it needs room
                    continue;
                }
                q.GiveBack();
                break;
            }
            q.Ring.PushUsed(chain.HeadIndex, written);
            Counters.RxPackets++;
            Counters.RxBytes += written;
            if (++sincePublish == PublishBatch)
            {
                PublishAndInterrupt(slot, now: true);
                sincePublish = 0;
            }
        }
        PublishAndInterrupt(slot);
    }

    /// <summary>Writes a pending event into the next event buffer.</summary>
    public void ProcessEvent()
    {
        var q = _q[QueueSlot.Event];
        if (!q.Configured) return;
        if (Gate.HoldsRx) OpenGateIfAcked();
        if (!TransportResetPending) return;
        bool delivered = false;
        while (q.PopNext(_log))
        {
            if (q.Chain.ReadableCount != 0)
            {
                q.ReturnUnusable(UnusableChain.Readable, _log);
                continue;
            }
            if (q.Chain.WritableLength < VirtioVsockEvent.Size)
            {
                q.ReturnUnusable(UnusableChain.TooSmall, _log);
                continue;
            }
            Span<byte> ev = stackalloc byte[VirtioVsockEvent.Size];
            new VirtioVsockEvent(ev).Id = (uint)VirtioVsockEventId.TransportReset;
            ScatterIo.Scatter(q.Chain.Writable, 0, ev);
            q.Ring.PushUsed(q.Chain.HeadIndex, VirtioVsockEvent.Size);
            TransportResetPending = false;
            delivered = true;
            break;
        }
        PublishAndInterrupt(QueueSlot.Event);
        if (delivered) Gate.Delivered(q.Ring);
    }

    /// <summary>Opens the restore gate once the driver gave an event buffer back after the event.</summary>
    private bool OpenGateIfAcked()
    {
        if (!Gate.TryOpen(_q[QueueSlot.Event].Ring)) return false;
        _log.Info("the driver acted on TRANSPORT_RESET (event buffer given back): rx flows again");
        return true;
    }

    /// <summary>Publishes the used entries and, when the driver wants one, owes the queue an interrupt,
    /// delivered by <see cref="DeliverInterrupts"/> at the end of the loop's turn (or now, in the middle
    /// of a long batch, so the driver can start recycling buffers).</summary>
    private void PublishAndInterrupt(uint slot, bool now = false)
    {
        var ring = _q[slot].Ring;
        if (ring.NextUsedIdx == ring.PublishedUsedIdx) return;
        ring.PublishUsed();
        if (!ring.NeedsInterrupt()) return;
        if (now) Interrupt(slot);
        else _owed |= 1 << (int)slot;
    }

    /// <summary>Queues whose interrupt is owed this turn (bit per slot).</summary>
    private int _owed;

    /// <summary>For each slot, the first slot whose call fd is the same eventfd (itself when none is):
    /// a VMM with one interrupt line for the device gives every queue the same eventfd, and one
    /// write tells the driver about all of them.</summary>
    private readonly uint[] _callGroup = new uint[QueueSlot.Count];  // filled by GroupCallFds at start

    /// <summary>Finds the queues that share a call eventfd (at start: the fds do not change while the
    /// device runs). Where the kernel cannot tell (no kcmp), every queue keeps its own.</summary>
    public void GroupCallFds()
    {
        for (uint slot = 0; slot < QueueSlot.Count; slot++)
        {
            _callGroup[slot] = slot;
            int fd = _q[slot].Notifier.CallFd;
            if (fd < 0) continue;
            for (uint first = 0; first < slot; first++)
            {
                int other = _q[first].Notifier.CallFd;
                if (other >= 0 && _callGroup[first] == first && Libc.SameFile(fd, other) == 0)
                {
                    _callGroup[slot] = first;
                    break;
                }
            }
        }
    }

    /// <summary>Delivers the interrupts owed this turn: one write per distinct call eventfd, one
    /// interrupt_fn call per queue.</summary>
    public void DeliverInterrupts()
    {
        int owed = _owed;
        if (owed == 0) return;
        _owed = 0;
        int signalled = 0;
        for (uint slot = 0; slot < QueueSlot.Count; slot++)
        {
            if ((owed & (1 << (int)slot)) == 0) continue;
            int group = 1 << (int)_callGroup[slot];
            if (_q[slot].Notifier.CallFd >= 0 && (signalled & group) != 0) continue;  // written already
            signalled |= group;
            Interrupt(slot);
        }
    }

    private void Interrupt(uint slot)
    {
        if (_q[slot].Notifier.Interrupt()) Counters.Interrupts++;
        else Counters.InterruptErrors++;
    }
}
