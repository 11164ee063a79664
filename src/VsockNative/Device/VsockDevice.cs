using System;
using System.Buffers.Binary;
using System.Threading;
using VsockNative.Connections;
using VsockNative.EventLoop;
using VsockNative.Interop;
using VsockNative.Memory;
using VsockNative.Protocol;
using VsockNative.Virtqueue;
using VsockNative.Wire;
using VsockNative.Diagnostics;
using VsockNative.Interop.Native;

namespace VsockNative.Device;

/// <summary>
/// One virtio-vsock device: the control plane (config space and features, guest memory, the queues
/// and their notifications, start/stop/reset) over three parts it owns: the queues
/// (<see cref="DeviceQueue"/>), the pump that moves packets between them and the backend
/// (<see cref="QueuePump"/>), and the event loop (<see cref="Loop"/>: its own thread, or the
/// caller's through <see cref="Poll"/> in manual mode). Everything behind the queues is the
/// backend's (<see cref="IVsockBackend"/>). Control calls and queue processing are serialized by
/// one lock; the loop waits for events and makes calls into the program outside it. Control calls
/// that change queues or memory need the device stopped (-EBUSY otherwise), as vhost does.
/// </summary>
internal sealed partial class VsockDevice : IDisposable
{
    private readonly byte[] _configSpace = new byte[VirtioVsockConfig.Size];
    private readonly object _gate = new();
    private readonly DeviceQueue[] _q = new DeviceQueue[QueueSlot.Count];
    private readonly Loop _loop;
    private readonly IVsockBackend _backend;
    private readonly QueuePump _pump;
    /// <summary>The syscalls of this device's event loop, by kind.</summary>
    private readonly SyscallCounterBlock _syscalls = new();
    private GuestMemory? _memory;
    private ulong _driverFeatures;
    private bool _featuresSet;
    private volatile bool _running;
    private bool _needsReset;
    private bool _resetSinceStart;
    private bool _disposed;
    /// <summary>Five queues: separate datagram layout configured and VIRTIO_VSOCK_F_DGRAM negotiated.</summary>
    private volatile bool _fiveQueues;
    private int _pendingKicks;
    private int _sleepers;  // threads in (or about to enter) a blocking epoll_wait of this device
    /// <summary>vsn_queue_notify calls (lock-free, so counted apart from the pump's counters).</summary>
    private long _notifyKicks;

    private VsockDevice(DeviceOptions options, Logger log, Loop loop, Func<IPollRegistry, IVsockBackend>? backend)
    {
        Options = options;
        Log = log;
        _loop = loop;
        new VirtioVsockConfig(_configSpace).GuestCid = options.GuestCid;
        for (uint i = 0; i < QueueSlot.Count; i++) _q[i] = new DeviceQueue(i);
        _backend = backend?.Invoke(loop) ?? new VsockBackend(new BackendOptions
        {
            GuestCid = options.GuestCid,
            UdsPath = options.UdsPath,
            RouteHost = options.RouteHost,
            BufAlloc = options.BufAlloc,
            MaxConnections = (int)Math.Min(options.MaxConnections, int.MaxValue),
            DatagramsOffered = (options.OfferedFeatures & VirtioVsockFeatures.Dgram) != 0,
            MaxDatagramSockets = (int)Math.Min(options.MaxDgramSockets, int.MaxValue),
            MaxSegments = DeviceQueue.MaxSegments,
        }, loop, log);
        _pump = new QueuePump(_q, _backend, log);
    }

    /// <summary>Creates a device with its event loop, or returns -errno. <paramref name="backend"/>
    /// replaces the connection layer (tests put a fake behind a real device).</summary>
    public static int Create(DeviceOptions options, Logger log, out VsockDevice? device, Func<IPollRegistry, IVsockBackend>? backend = null)
    {
        device = null;
        int rc = Loop.Create(out var loop);
        if (rc < 0) return rc;
        device = new VsockDevice(options, log, loop!, backend);
        return 0;
    }

    public DeviceOptions Options { get; }
    public Logger Log { get; }
    public ulong GuestCid => BinaryPrimitives.ReadUInt64LittleEndian(_configSpace);
    private static long NowMs => Environment.TickCount64;

    /// <summary>VSN_DEVICE_STATUS_* bits.</summary>
    public uint Status => (_running ? StatusBits.Running : 0) | (_needsReset ? StatusBits.NeedsReset : 0);

    // ---- Control plane: config, memory, features, queues ----

    /// <summary>Copies bytes of the device config space (struct virtio_vsock_config, little-endian).</summary>
    public int ReadConfig(uint offset, Span<byte> destination)
    {
        if (offset > _configSpace.Length || (ulong)offset + (ulong)destination.Length > (ulong)_configSpace.Length)
            return -Errno.EINVAL;
        _configSpace.AsSpan((int)offset, destination.Length).CopyTo(destination);
        return destination.Length;
    }

    /// <summary>Replaces the guest memory table (device stopped). Configured queues move to the new
    /// table; if one of them no longer fits, nothing changes.</summary>
    public int SetMemory(ReadOnlySpan<GuestRegion> regions, out string error)
    {
        lock (_gate)
        {
            if (Busy(out error)) return -Errno.EBUSY;
            var rc = GuestMemory.TryCreate(regions, out var memory);
            if (rc != GuestMemoryError.None) return Fail(out error, -Errno.EINVAL, $"memory table rejected: {rc}");
            for (int i = 0; i < _q.Length; i++)
            {
                if (!_q[i].Configured) continue;
                var qrc = _q[i].Ring.ReplaceMemory(memory!);
                if (qrc == QueueConfigError.None) continue;
                for (int j = 0; j < i; j++)
                    if (_q[j].Configured) _q[j].Ring.ReplaceMemory(_memory!);
                return Fail(out error, -Errno.EINVAL, $"queue {i} does not fit the new memory table: {qrc}");
            }
            _memory = memory;
            Log.Info($"memory table: {regions.Length} region(s)");
            return 0;
        }
    }

    /// <summary>Records the features the driver accepted: a subset of the offered ones with VERSION_1.
    /// Must come before queues are set up (their ring format depends on it).</summary>
    public int SetFeatures(ulong features, out string error)
    {
        lock (_gate)
        {
            if (Busy(out error)) return -Errno.EBUSY;
            if ((features & ~Options.OfferedFeatures) != 0)
                return Fail(out error, -Errno.EINVAL, $"features 0x{features & ~Options.OfferedFeatures:x} were not offered (offered 0x{Options.OfferedFeatures:x})");
            if ((features & VirtioTransportFeatures.Version1) == 0)
                return Fail(out error, -Errno.EINVAL, "VIRTIO_F_VERSION_1 must be accepted");
            if (Array.Exists(_q, q => q.Configured) && features != _driverFeatures)
                return Fail(out error, -Errno.EBUSY, "queues are already set up with other features: reset the device first");
            _driverFeatures = features;
            _featuresSet = true;
            _fiveQueues = (features & VirtioVsockFeatures.Dgram) != 0 && Options.SeparateDatagramQueues;
            _pump.SeparateDatagramQueues = _fiveQueues;
            for (uint slot = 0; slot < QueueSlot.Count; slot++) _q[slot].Notifier.Index = QueueSlot.IndexOf(slot, _fiveQueues);
            _backend.OnFeatures(features, _fiveQueues);
            return 0;
        }
    }

    /// <summary>Sets a queue up: rings, size and notifications (device stopped, memory and features set).</summary>
    public int SetupQueue(uint queueIndex, in QueueSettings setup, out string error)
    {
        lock (_gate)
        {
            if (Busy(out error)) return -Errno.EBUSY;
            if (_memory is null) return Fail(out error, -Errno.EINVAL, "set the memory table before the queues");
            if (!_featuresSet) return Fail(out error, -Errno.EINVAL, "set the driver features before the queues");
            if (!Slot(queueIndex, out uint index, out error)) return -Errno.EINVAL;
            var ringFeatures = RingFeatures(_driverFeatures);
            var config = new QueueConfig(setup.Size, setup.DescAddr, setup.AvailAddr, setup.UsedAddr, ringFeatures);
            // Validate, then assign: check the rings against the memory table before the notifier
            // takes the new fds, so a rejected setup leaves a queue that was set up before intact.
            var placement = RingPointers.Resolve(_memory, config, out _);
            if (placement != QueueConfigError.None) return Fail(out error, -Errno.EINVAL, $"queue {index}: {placement}");
            var q = _q[index];
            int rc = q.Notifier.Set(setup.KickFd, setup.CallFd, setup.Interrupt, out error);
            if (rc < 0) return rc;
            var qrc = q.Ring.Configure(_memory, config);
            if (qrc != QueueConfigError.None)
            {
                q.Notifier.CloseFds();
                q.Configured = false;
                return Fail(out error, -Errno.EINVAL, $"queue {index}: {qrc}");
            }
            q.Configured = true;
            return 0;
        }
    }

    /// <summary>Sets where a stopped queue resumes (vhost-user SET_VRING_BASE).</summary>
    public int SetBase(uint queueIndex, ushort lastAvailIdx, out string error)
    {
        lock (_gate)
        {
            if (Busy(out error)) return -Errno.EBUSY;
            if (!Slot(queueIndex, out uint index, out error)) return -Errno.EINVAL;
            var rc = _q[index].Ring.SetLastAvailIdx(lastAvailIdx);
            return rc == QueueError.None ? 0 : Fail(out error, -Errno.EINVAL, $"queue {index}: {rc}");
        }
    }

    /// <summary>Where a stopped queue would resume (vhost-user GET_VRING_BASE after stopping).</summary>
    public int GetBase(uint queueIndex, out ushort lastAvailIdx, out string error)
    {
        lastAvailIdx = 0;
        lock (_gate)
        {
            if (Busy(out error)) return -Errno.EBUSY;
            if (!Slot(queueIndex, out uint index, out error)) return -Errno.EINVAL;
            lastAvailIdx = _q[index].Ring.LastAvailIdx;
            return 0;
        }
    }

    // ---- Running: start, stop, reset, kicks, the loop ----

    /// <summary>Binds the host endpoints (the hybrid socket and its datagram hub) before any start, so host
    /// programs can connect while no driver runs (vsn_device_create); Start opens them if this was not
    /// called. Clients wait in the listen backlog until the loop runs.</summary>
    public int OpenEndpoints(out string error)
    {
        lock (_gate) return _backend.OpenEndpoints(out error);
    }

    /// <summary>Starts every configured queue and, unless in manual mode, the event-loop thread.</summary>
    public int Start(out string error)
    {
        lock (_gate)
        {
            if (Busy(out error)) return -Errno.EBUSY;
            if (_needsReset) return Fail(out error, -Errno.EINVAL, "the device needs a reset (vsn_device_reset) before it can start again");
            if (_memory is null || !_featuresSet) return Fail(out error, -Errno.EINVAL, "set the memory table and the features first");
            int rc = _backend.OpenEndpoints(out error);
            if (rc < 0) return rc;
            foreach (var q in _q)
            {
                if (!q.Configured) continue;
                q.Ring.Start();
                int kick = q.Notifier.KickFd;
                rc = kick >= 0 ? _loop.Add(kick, q.Slot, Libc.EPOLLIN) : 0;
                if (rc < 0)
                {
                    StopQueues();
                    return Fail(out error, rc, $"queue {q.Slot}: kick fd cannot be watched (errno {-rc})");
                }
            }
            if (_resetSinceStart)
            {
                // Rings resumed where they were (SET_VRING_BASE): the same driver, which still has the
                // connections the reset dropped. Fresh rings (base 0): a new driver.
                _backend.OnStartAfterReset(sameDriver: _q[QueueSlot.Rx].Ring.LastAvailIdx != 0);
                _resetSinceStart = false;
            }
            _running = true;
            if (_restored) StartRestored();
            // Chains made available while the device was stopped get no kick of their own (after a
            // restore: chains the guest made available before the snapshot, Firecracker #5969).
            _pendingKicks = (1 << (int)QueueSlot.Count) - 1;
            _pump.GroupCallFds();
            _loop.Wake();
            if (!Options.ManualPoll) _loop.StartThread($"vsn-device-{Options.GuestCid}", RunLoop);
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
            _loop.Wake();
            thread = _loop.DetachThread();
        }
        thread?.Join();
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
            _fiveQueues = false;
            _pump.SeparateDatagramQueues = false;
            for (uint slot = 0; slot < QueueSlot.Count; slot++) _q[slot].Notifier.Index = slot;
            _backend.OnFeatures(0, false);
            _needsReset = false;
            _pump.Counters = default;
            _pump.TransportResetPending = false;
            _pump.Gate.Disarm();
            _restored = false;
            _backend.DropConnections(tellGuest: true);
            _resetSinceStart = true;
            Interlocked.Exchange(ref _notifyKicks, 0);
            Log.Info("device reset");
        }
    }

    /// <summary>The host's kick for a queue without a kick fd. Thread-safe; processed by the loop.</summary>
    public int Notify(uint queueIndex, out string error)
    {
        if (!Slot(queueIndex, out uint index, out error)) return -Errno.EINVAL;
        Interlocked.Increment(ref _notifyKicks);
        int old = Interlocked.Or(ref _pendingKicks, 1 << (int)index);
        // Only a thread asleep in this device's epoll_wait needs the wake eventfd (a write here and a
        // read on the loop: two of a small packet's four syscalls). One about to sleep sees the bit
        // first (RunOnceCounted announces itself, then looks); one that is processing takes the bit
        // on this turn or looks before its next wait. Interlocked.Or is a full fence: _sleepers is
        // read after the bit is set, as the loop reads the bits after announcing itself (Dekker).
        if ((old & (1 << (int)index)) == 0 && Volatile.Read(ref _sleepers) != 0) _loop.Wake();
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

    /// <summary>One turn of the loop: wait (until an fd, a kick, a wake-up or the backend's next
    /// deadline), process under the lock, then make the deferred calls outside it.</summary>
    private int RunOnce(int timeoutMs)
    {
        var outer = SyscallCount.Enter(_syscalls);
        try
        {
            return RunOnceCounted(timeoutMs);
        }
        finally
        {
            SyscallCount.Exit(outer);
        }
    }

    private int RunOnceCounted(int timeoutMs)
    {
        lock (_gate)
        {
            _backend.BeforeWait();
            timeoutMs = WaitTimeout(timeoutMs);
        }
        // A thread that may sleep says so before it looks at the pending kicks (Notify wakes only
        // such a thread), and does not sleep when a kick is already pending.
        bool maySleep = timeoutMs != 0;
        if (maySleep)
        {
            Interlocked.Increment(ref _sleepers);
            if (Volatile.Read(ref _pendingKicks) != 0) timeoutMs = 0;
        }
        int n = _loop.Wait(timeoutMs);
        if (maySleep) Interlocked.Decrement(ref _sleepers);
        System.Collections.Generic.List<IDeferredCall>? calls;
        int processed = 0;
        lock (_gate)
        {
            if (n < 0)
            {
                // Nothing can be processed any more: the device is no longer "running" but broken, and
                // the host hears of it (the queues stay where they were for GET_VRING_BASE).
                _running = false;
                _loop.DetachThread();
                MarkNeedsReset(QueueSlot.Invalid, $"event loop: epoll_wait failed (errno {-n})");
                StopQueues();
            }
            else if (_running) processed = ProcessEvents(n);
            calls = _loop.TakeDeferred();
        }
        // Calls into the program (accept fn, router fn, needs-reset fn) run here, outside the lock: a
        // callback may call into any device, this one included (see BEHAVIOUR.md, "Sibling routing").
        if (calls is not null)
        {
            foreach (var call in calls) call.Invoke();
            lock (_gate) _loop.Made(calls);
        }
        return n < 0 ? n : processed;
    }

    private int ProcessEvents(int n)
    {
        // Drain the wake eventfd before taking the pending-kick bits, never after: Notify signals
        // only when its bit was clear, so a Notify landing between the exchange and a later drain
        // would leave its bit set with its wake-up eaten, and every later Notify of that queue would
        // be lost (the loop sleeps with chains available). Drained first, a Notify after the
        // exchange always leaves a signal pending.
        _loop.DrainWake(n);
        int pending = Interlocked.Exchange(ref _pendingKicks, 0);
        long now = NowMs;
        _backend.OnSignals(now);  // sibling links other devices moved (after the drain, as the kicks)
        for (int i = 0; i < n; i++)
        {
            ulong tag = _loop.Tag(i);
            if (tag == Loop.WakeTag) continue;
            if (tag >= QueueSlot.Count)
            {
                _backend.OnFdEvent(tag, _loop.Events(i), now);
                continue;
            }
            if (EventFd.Drain(_q[tag].Notifier.KickFd) != 0) _pump.Counters.Kicks++;
            pending |= 1 << (int)tag;
        }
        int processed = 0;
        for (uint slot = 0; slot < QueueSlot.Count && !_needsReset; slot++)
        {
            if ((pending & (1 << (int)slot)) == 0 || !_q[slot].Configured) continue;
            processed++;
            if (slot is QueueSlot.Rx or QueueSlot.DgramRx) continue;  // filled once, below
            _pump.Process(slot, now);
            CheckFault(_q[slot]);
        }
        _backend.OnTimer(now);  // it runs only what is due (one look at each heap's top)
        if (!_needsReset)
        {
            _pump.FillAllRx(now);
            CheckFault(_q[QueueSlot.Rx]);
            CheckFault(_q[QueueSlot.DgramRx]);
        }
        _pump.DeliverInterrupts();
        _backend.TakeDeferred(_loop);
        return processed;
    }

    /// <summary>epoll timeout: the caller's, shortened to the backend's next deadline.</summary>
    private int WaitTimeout(int timeoutMs)
    {
        long deadline = _backend.NextDeadlineMs;
        if (deadline == long.MaxValue) return timeoutMs;
        long untilDeadline = Math.Max(0, deadline - NowMs);
        return timeoutMs < 0 ? (int)Math.Min(untilDeadline, int.MaxValue) : (int)Math.Min(untilDeadline, timeoutMs);
    }

    /// <summary>A ring the driver broke: the device needs a reset.</summary>
    private void CheckFault(DeviceQueue q)
    {
        if (q.Fault is { } why) MarkNeedsReset(q.Slot, why);
    }

    /// <summary>The device cannot go on (<paramref name="slot"/>: the queue at fault, or
    /// <see cref="QueueSlot.Invalid"/>): status NEEDS_RESET, logged, and the host told once, outside the lock.</summary>
    private void MarkNeedsReset(uint slot, string why)
    {
        if (_needsReset) return;
        _needsReset = true;
        uint index = slot == QueueSlot.Invalid ? DriverQueue.None : QueueSlot.IndexOf(slot, _fiveQueues);
        string where = slot == QueueSlot.Invalid ? "" : $"queue {index}: ";
        Log.Error($"{where}{why}; the device needs a reset (DEVICE_NEEDS_RESET)");
        if (Options.NeedsReset is { } tell) _loop.Defer(new NeedsResetCall(tell, index, where + why));
        if (!_loop.OnLoopThread) _loop.Wake();  // a control call found it: the loop tells the host
    }

    private sealed class NeedsResetCall(Action<uint, string> tell, uint queue, string why) : IDeferredCall
    {
        public void Invoke() => tell(queue, why);
    }

    private void StopQueues()
    {
        foreach (var q in _q)
        {
            if (!q.Configured) continue;
            if (q.Notifier.KickFd >= 0) _loop.Remove(q.Notifier.KickFd);
            q.Ring.Stop();
        }
    }

    // ---- The event queue, the fd API, sibling routing ----

    /// <summary>Sends VIRTIO_VSOCK_EVENT_TRANSPORT_RESET (before a snapshot or migration): every
    /// connection is dropped on the host side now, and the guest's driver resets its sockets when it
    /// reads the event. With no event buffer posted, the event waits for one.</summary>
    public int TransportReset(out string error)
    {
        lock (_gate)
        {
            error = "";
            _backend.DropConnections(tellGuest: false);  // the event tells the guest
            _pump.PostTransportReset();
            Log.Info("TRANSPORT_RESET: all connections dropped; event queued for the driver");
            if (_running && _q[QueueSlot.Event].Configured)
            {
                _pump.ProcessEvent();
                _pump.DeliverInterrupts();
                CheckFault(_q[QueueSlot.Event]);
            }
            return 0;
        }
    }

    /// <summary>Guest connections (or datagrams) of a type to a host port go to a program's listener.</summary>
    public int Listen(uint port, uint type, IFdListener listener, out string error)
    {
        lock (_gate) return _backend.Listen(port, (VirtioVsockType)type, listener, out error);
    }

    public int Unlisten(uint port, uint type, out string error)
    {
        lock (_gate) return _backend.Unlisten(port, (VirtioVsockType)type, out error);
    }

    /// <summary>Opens a connection to a guest port; the program gets its end of a socketpair at once
    /// (the REQUEST goes out on the event loop; a refusal shows as end of stream on the fd).</summary>
    public int Connect(uint guestPort, uint type, out int fd, out string error)
    {
        int rc;
        lock (_gate) rc = _backend.Connect(guestPort, (VirtioVsockType)type, NowMs, out fd, out error);
        if (rc == 0 && type != (uint)VirtioVsockType.Dgram) Notify(DriverQueue.Rx, out _);  // the REQUEST waits for an rx buffer
        return rc;
    }

    /// <summary>Installs (or with null removes) the router for guest REQUESTs to other CIDs.</summary>
    public int SetRouter(ISiblingRouter? router, out string error)
    {
        error = "";
        lock (_gate) _backend.Router = router;
        return 0;
    }

    /// <summary>Opens a connection to a guest port whose peer is a sibling's (cid, port), over fd.</summary>
    public int ConnectFrom(uint guestPort, uint type, ulong srcCid, uint srcPort, int fd, out string error)
    {
        int rc;
        lock (_gate)
        {
            if (!_running) return Fail(out error, -Errno.ENOTCONN, "the device is not running (no driver)");
            rc = _backend.ConnectFrom(guestPort, (VirtioVsockType)type, srcCid, srcPort, fd, NowMs, out error);
        }
        if (rc == 0) Notify(DriverQueue.Rx, out _);  // the REQUEST waits for an rx buffer
        return rc;
    }

    // ---- Diagnostics ----

    public int GetQueueCounters(uint queueIndex, out QueueCounters counters, out string error)
    {
        counters = default;
        if (!Slot(queueIndex, out uint index, out error)) return -Errno.EINVAL;
        lock (_gate) counters = _q[index].Ring.Counters;
        return 0;
    }

    public DeviceCounters Counters
    {
        get
        {
            DeviceCounters c;
            lock (_gate) c = _pump.Counters;
            c.Kicks += (ulong)Interlocked.Read(ref _notifyKicks);
            return c;
        }
    }

    /// <summary>The syscalls the event loop made, by kind (read without the lock: each is one aligned word).</summary>
    public SyscallCounters SyscallCounters => _syscalls.Values;

    public MuxerCounters ConnectionCounters
    {
        get { lock (_gate) return _backend.ConnectionCounters; }
    }

    /// <summary>What the connection layer could not do for lack of fds or memory.</summary>
    public ResourceCounters ResourceCounters
    {
        get { lock (_gate) return _backend.ResourceCounters; }
    }

    /// <summary>The per-connection counters of every freed connection, added up.</summary>
    public ConnectionCounters EndedConnectionCounters
    {
        get { lock (_gate) return _backend.EndedConnectionCounters; }
    }

    public DatagramCounters DatagramCounters
    {
        get { lock (_gate) return _backend.DatagramCounters; }
    }

    /// <summary>When the loop must wake next for a deadline (long.MaxValue: never; an idle device sleeps
    /// in epoll_wait until an fd, a kick or a control call wakes it).</summary>
    internal long NextDeadlineMs
    {
        get { lock (_gate) return _backend.NextDeadlineMs; }
    }

    /// <summary>Snapshots up to <c>destination.Length</c> connections; returns how many there are.</summary>
    public int ConnectionSnapshot(Span<ConnectionInfo> destination)
    {
        lock (_gate) return _backend.Snapshot(destination);
    }

    private bool Slot(uint queueIndex, out uint slot, out string error)
    {
        slot = QueueSlot.Of(queueIndex, _fiveQueues);
        error = slot == QueueSlot.Invalid
            ? $"queue index {queueIndex} (the device has {QueueSlot.Queues(_fiveQueues)} queues with these features and dgram_layout)"
            : "";
        return slot != QueueSlot.Invalid;
    }

    private bool Busy(out string error)
    {
        error = _running ? "the device is running: stop it first" : "";
        return _running;
    }

    private static int Fail(out string error, int errno, string message)
    {
        error = message;
        return errno;
    }

    public void Dispose()
    {
        Stop();
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            _backend.Dispose();
            foreach (var q in _q) q.Notifier.CloseFds();
            _loop.Dispose();
        }
    }

    /// <summary>The ring features among the driver's (indirect descriptors, event index).</summary>
    private static VirtqFeatures RingFeatures(ulong features) =>
        (VirtqFeatures)(features & (VirtioTransportFeatures.IndirectDesc | VirtioTransportFeatures.EventIdx));
}
