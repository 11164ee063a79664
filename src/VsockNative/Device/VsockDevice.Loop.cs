using System;
using System.Threading;
using VsockNative.Connections;
using VsockNative.EventLoop;
using VsockNative.Interop;
using VsockNative.Virtqueue;
using VsockNative.Wire;

namespace VsockNative.Device;

internal sealed partial class VsockDevice
{
    private const int MaxSegments = DeviceQueue.MaxSegments;
    /// <summary>Used entries published at least this often, so the driver can recycle buffers early.</summary>
    private const int PublishBatch = 64;
    private readonly ulong[] _readyTags = new ulong[64];
    private readonly uint[] _readyEvents = new uint[64];

    private bool _resetSinceStart;

    /// <summary>Starts every configured queue and, unless in manual mode, the event-loop thread.</summary>
    public int Start(out string error)
    {
        lock (_gate)
        {
            if (Busy(out error)) return -Errno.EBUSY;
            if (_needsReset) return Fail(out error, -Errno.EINVAL, "the device needs a reset (vsn_device_reset) before it can start again");
            if (_memory is null || !_featuresSet) return Fail(out error, -Errno.EINVAL, "set the memory table and the features first");
            int endpoints = _muxer.OpenEndpoints();
            if (endpoints < 0) return Fail(out error, endpoints, $"cannot listen on uds_path {Options.UdsPath} (errno {-endpoints})");
            if ((endpoints = OpenDatagramEndpoints()) < 0) return Fail(out error, endpoints, $"cannot bind {Options.UdsPath}_dgram (errno {-endpoints})");
            for (uint i = 0; i < QueueSlot.Count; i++)
            {
                if (!_q[i].Configured) continue;
                _q[i].Ring.Start();
                int kick = _q[i].Notifier.KickFd;
                int rc = kick >= 0 ? _epoll.Add(kick, i) : 0;
                if (rc < 0)
                {
                    StopQueues();
                    return Fail(out error, rc, $"queue {i}: kick fd cannot be watched (errno {-rc})");
                }
            }
            if (_resetSinceStart)
            {
                // Rings resumed where they were (SET_VRING_BASE): the same driver, which still has the
                // connections the reset dropped. Fresh rings (base 0): a new driver.
                _muxer.OnStartAfterReset(sameDriver: _q[QueueSlot.Rx].Ring.LastAvailIdx != 0);
                _resetSinceStart = false;
            }
            _running = true;
            // Chains made available while the device was stopped get no kick of their own.
            _pendingKicks = (1 << (int)QueueSlot.Count) - 1;
            EventFd.Signal(_wakeFd);
            if (!Options.ManualPoll)
            {
                _thread = new Thread(RunLoop) { IsBackground = true, Name = $"vsn-device-{Options.GuestCid}" };
                _thread.Start();
            }
            Log.Info("device started");
            return 0;
        }
    }

    /// <summary>Stops processing: the loop thread ends, queues stop (their bases stay readable).</summary>
    public int Stop()
    {
        Thread? thread;
        lock (_gate)
        {
            if (!_running) return 0;
            _running = false;
            EventFd.Signal(_wakeFd);
            thread = _thread;
            _thread = null;
        }
        if (thread is not null && thread != Thread.CurrentThread) thread.Join();
        lock (_gate)
        {
            StopQueues();
            Log.Info("device stopped");
        }
        return 0;
    }

    /// <summary>Back to the state after creation: stopped, no memory, no features, no queues.</summary>
    public void Reset()
    {
        Stop();
        lock (_gate)
        {
            foreach (var q in _q) q.Reset();
            _memory = null;
            _featuresSet = false;
            _driverFeatures = 0;
            _muxer.SeqpacketNegotiated = false;
            _needsReset = false;
            _needsResetReport = null;
            _counters = default;
            _muxer.DropConnections(tellGuest: true);
            _resetSinceStart = true;
            ResetDatagrams();
            Interlocked.Exchange(ref _notifyKicks, 0);
            Log.Info("device reset");
        }
    }

    /// <summary>The host's kick for a queue without a kick fd. Thread-safe; processed by the loop.</summary>
    public int Notify(uint queueIndex, out string error)
    {
        error = "";
        uint index = QueueSlot.Of(queueIndex, _fiveQueues);
        if (index == QueueSlot.Invalid) return Fail(out error, -Errno.EINVAL, $"queue index {queueIndex}");
        Interlocked.Increment(ref _notifyKicks);
        int old = Interlocked.Or(ref _pendingKicks, 1 << (int)index);
        if ((old & (1 << (int)index)) == 0) EventFd.Signal(_wakeFd);
        return 0;
    }

    /// <summary>Manual mode: waits up to <paramref name="timeoutMs"/> for events and processes them on
    /// the caller's thread. Returns the number of queues processed, or -errno.</summary>
    public int Poll(int timeoutMs, out string error)
    {
        error = "";
        if (!Options.ManualPoll) return Fail(out error, -Errno.EINVAL, "the device runs its own event loop (VSN_DEVICE_F_MANUAL_POLL not set)");
        if (!_running) return Fail(out error, -Errno.EINVAL, "the device is not started");
        return RunOnce(timeoutMs);
    }

    private void RunLoop()
    {
        while (_running)
        {
            if (RunOnce(-1) < 0) return;  // the device needs a reset now (RunOnce said why)
        }
    }

    private int RunOnce(int timeoutMs)
    {
        int n;
        lock (_gate) timeoutMs = WaitTimeout(timeoutMs);
        n = _epoll.Wait(_readyTags, _readyEvents, timeoutMs);
        if (n < 0)
        {
            // Nothing can be processed any more: the device is no longer "running" but broken, and
            // the host hears of it (the queues stay where they were for GET_VRING_BASE).
            lock (_gate)
            {
                _running = false;
                _thread = null;
                MarkNeedsReset(QueueSlot.Invalid, $"event loop: epoll_wait failed (errno {-n})");
                StopQueues();
            }
            ReportNeedsReset();
            return n;
        }
        int processed = ProcessEvents(n, out var calls);
        // Calls into the program (accept fn, router fn, needs-reset fn) run here, outside the lock: a
        // callback may call into any device, this one included (see BEHAVIOUR.md, "Sibling routing").
        if (calls is not null) RunDeferred(calls);
        ReportNeedsReset();
        return processed;
    }

    /// <summary>Tells the host once that the device needs a reset (outside the lock).</summary>
    private void ReportNeedsReset()
    {
        (uint Queue, string Why)? report;
        lock (_gate)
        {
            report = _needsResetReport;
            _needsResetReport = null;
        }
        if (report is { } r) Options.NeedsReset?.Invoke(r.Queue, r.Why);
    }

    private int ProcessEvents(int n, out DeferredCall[]? calls)
    {
        calls = null;
        lock (_gate)
        {
            if (!_running) return 0;
            // Drain the wake eventfd before taking the pending-kick bits, never after: Notify
            // signals only when its bit was clear, so a Notify landing between the exchange and
            // a later drain would leave its bit set with its wake-up eaten, and every later
            // Notify of that queue would be lost (the loop sleeps with chains available).
            // Drained first, a Notify after the exchange always leaves a signal pending.
            for (int i = 0; i < n; i++)
                if (_readyTags[i] == WakeTag) EventFd.Drain(_wakeFd);
            int pending = Interlocked.Exchange(ref _pendingKicks, 0);
            long now = NowMs;
            for (int i = 0; i < n; i++)
            {
                ulong tag = _readyTags[i];
                if (tag == WakeTag) continue;
                if (tag >= QueueSlot.Count)
                {
                    if (Connections.PollTag.Kind(tag) == Connections.PollTag.Datagram) _dgram.OnFdEvent(tag, _readyEvents[i], now);
                    else _muxer.OnFdEvent(tag, _readyEvents[i], now);
                    continue;
                }
                if (EventFd.Drain(_q[tag].Notifier.KickFd) != 0) _counters.Kicks++;
                pending |= 1 << (int)tag;
            }
            int processed = 0;
            for (uint q = 0; q < QueueSlot.Count; q++)
            {
                if ((pending & (1 << (int)q)) == 0 || !_q[q].Configured) continue;
                ProcessQueue(q);
                processed++;
            }
            if (_muxer.NextDeadlineMs <= now) _muxer.OnTimer(now);
            if (_dgram.NextDeadlineMs <= now) _dgram.OnTimer(now);
            if (!_needsReset) ProcessRx();
            if (!_needsReset) ProcessDgramRx();
            if (_muxer.HasDeferred) calls = _muxer.TakeDeferred();
            return processed;
        }
    }

    private void ProcessQueue(uint index)
    {
        if (_needsReset) return;
        if (index is QueueSlot.Tx or QueueSlot.DgramTx) ProcessTx(index);
        else if (index == QueueSlot.Rx) ProcessRx();
        else if (index == QueueSlot.DgramRx) ProcessDgramRx();
        else ProcessEvent();
    }

    private void ProcessTx(uint slot)
    {
        var q = _q[slot];
        q.Ring.DisableKicks();
        int sincePublish = 0;
        while (q.PopNext(Log))
        {
            HandleTxPacket(q.Chain, slot);
            q.Ring.PushUsed(q.Chain.HeadIndex, 0);
            if (++sincePublish == PublishBatch)
            {
                PublishAndInterrupt(slot);
                sincePublish = 0;
            }
        }
        CheckFault(q);
        PublishAndInterrupt(slot);
    }

    /// <summary>A ring the driver broke: the device needs a reset.</summary>
    private void CheckFault(DeviceQueue q)
    {
        if (q.Fault is { } why) MarkNeedsReset(q.Slot, why);
    }

    /// <summary>Reads the header once into a private copy and checks it against the chain.</summary>
    private void HandleTxPacket(DescriptorChain chain, uint slot)
    {
        Span<byte> copy = stackalloc byte[VirtioVsockHdr.Size];
        if (chain.ReadableLength < VirtioVsockHdr.Size || chain.WritableCount != 0)
        {
            _counters.TxMalformed++;
            return;
        }
        new VirtioVsockHdrScatter(chain.Readable).CopyTo(copy);
        var hdr = new VirtioVsockHdr(copy);
        uint follow = chain.ReadableLength - VirtioVsockHdr.Size;
        if (hdr.Len != follow)
        {
            // The muxer sees the bytes that really follow, finds the length mismatch and answers
            // with RST (resetting the connection if there is one), so the sender learns of it.
            _counters.TxMalformed++;
            if (Log.Enabled(LogLevel.Warn)) Log.Warn($"tx packet {hdr.SrcPort}->{hdr.DstPort}: hdr.len {hdr.Len} but {follow} bytes follow; answered with RST");
            DeliverTxPacket(copy, chain, follow, slot);
            return;
        }
        _counters.TxPackets++;
        _counters.TxPayloadBytes += hdr.Len;
        DeliverTxPacket(copy, chain, hdr.Len, slot);
    }

    private void PublishAndInterrupt(uint index)
    {
        var queue = _q[index].Ring;
        if (queue.NextUsedIdx == queue.PublishedUsedIdx) return;
        queue.PublishUsed();
        if (!queue.NeedsInterrupt()) return;
        if (_q[index].Notifier.Interrupt()) _counters.Interrupts++;
        else _counters.InterruptErrors++;
    }

    /// <summary>Why the device needs a reset, waiting to be told to the host (once per reset).</summary>
    private (uint Queue, string Why)? _needsResetReport;

    /// <summary>The device cannot go on (<paramref name="slot"/>: the queue at fault, or
    /// <see cref="QueueSlot.Invalid"/>): status NEEDS_RESET, logged, and the host told once.</summary>
    private void MarkNeedsReset(uint slot, string why)
    {
        if (_needsReset) return;
        _needsReset = true;
        uint index = slot == QueueSlot.Invalid ? QueueIndex.None : QueueSlot.IndexOf(slot, _fiveQueues);
        string where = slot == QueueSlot.Invalid ? "" : $"queue {index}: ";
        Log.Error($"{where}{why}; the device needs a reset (DEVICE_NEEDS_RESET)");
        _needsResetReport = (index, where + why);
        if (Options.ManualPoll || Thread.CurrentThread != _thread) EventFd.Signal(_wakeFd);  // delivered by the next loop turn
    }

    private void StopQueues()
    {
        for (uint i = 0; i < QueueSlot.Count; i++)
        {
            if (!_q[i].Configured) continue;
            if (_q[i].Notifier.KickFd >= 0) _epoll.Remove(_q[i].Notifier.KickFd);
            _q[i].Ring.Stop();
        }
    }
}
