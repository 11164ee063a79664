using System;
using System.Buffers.Binary;
using System.Threading;
using VsockNative.EventLoop;
using VsockNative.Interop;
using VsockNative.Memory;
using VsockNative.Virtqueue;
using VsockNative.Wire;

namespace VsockNative.Device;

/// <summary>
/// One virtio-vsock device: config space and features, guest memory, the three queues (rx 0,
/// tx 1, event 2) and their notifications, and one event loop (its own thread, or the caller's
/// through <see cref="Poll"/> in manual mode). Control calls and queue processing are serialized by
/// one lock; the loop waits for events outside it. Control calls that change queues or memory
/// need the device stopped (-EBUSY otherwise), as vhost does.
/// </summary>
internal sealed partial class VsockDevice : IDisposable
{
    private const ulong WakeTag = ulong.MaxValue;
    private readonly byte[] _configSpace = new byte[VirtioVsockConfig.Size];
    private readonly object _gate = new();
    private readonly DeviceQueue[] _q = new DeviceQueue[QueueSlot.Count];
    private readonly Epoll _epoll;
    private readonly int _wakeFd;
    private GuestMemory? _memory;
    private ulong _driverFeatures;
    private bool _featuresSet;
    private volatile bool _running;
    private bool _needsReset;
    private Thread? _thread;
    private int _pendingKicks;
    /// <summary>vsn_queue_notify calls (lock-free, so counted apart from <see cref="_counters"/>).</summary>
    private long _notifyKicks;
    private DeviceCounters _counters;

    private VsockDevice(DeviceOptions options, Logger log, Epoll epoll, int wakeFd)
    {
        Options = options;
        Log = log;
        _epoll = epoll;
        _wakeFd = wakeFd;
        new VirtioVsockConfig(_configSpace).GuestCid = options.GuestCid;
        for (uint i = 0; i < QueueSlot.Count; i++) _q[i] = new DeviceQueue(i);
        InitConnections();
        InitDatagrams();
    }

    /// <summary>Creates a device with its epoll instance and wake eventfd, or returns -errno.</summary>
    public static int Create(DeviceOptions options, Logger log, out VsockDevice? device)
    {
        device = null;
        int rc = Epoll.Create(16, out var epoll);
        if (rc < 0) return rc;
        int wake = EventFd.Create();
        if (wake < 0 || (rc = epoll!.Add(wake, WakeTag)) < 0)
        {
            if (wake >= 0) Libc.Close(wake);
            epoll!.Dispose();
            return wake < 0 ? wake : rc;
        }
        device = new VsockDevice(options, log, epoll, wake);
        return 0;
    }

    public DeviceOptions Options { get; }
    public Logger Log { get; }
    public ulong GuestCid => BinaryPrimitives.ReadUInt64LittleEndian(_configSpace);

    /// <summary>VSN_DEVICE_STATUS_* bits.</summary>
    public uint Status => (_running ? DeviceStatus.Running : 0) | (_needsReset ? DeviceStatus.NeedsReset : 0);

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
            _muxer.SeqpacketNegotiated = (features & VirtioVsockFeatures.Seqpacket) != 0;
            OnFeaturesSet(features);
            return 0;
        }
    }

    /// <summary>Sets a queue up: rings, size and notifications (device stopped, memory and features set).</summary>
    public unsafe int SetupQueue(uint queueIndex, in QueueSetup setup, out string error)
    {
        lock (_gate)
        {
            if (Busy(out error)) return -Errno.EBUSY;
            if (_memory is null) return Fail(out error, -Errno.EINVAL, "set the memory table before the queues");
            if (!_featuresSet) return Fail(out error, -Errno.EINVAL, "set the driver features before the queues");
            uint index = QueueSlot.Of(queueIndex, _fiveQueues);
            if (index == QueueSlot.Invalid)
                return Fail(out error, -Errno.EINVAL, $"queue index {queueIndex} (the device has {QueueSlot.Queues(_fiveQueues)} queues with these features and dgram_layout)");
            var ringFeatures = (VirtqFeatures)(_driverFeatures & (VirtioTransportFeatures.IndirectDesc | VirtioTransportFeatures.EventIdx));
            var config = new QueueConfig(setup.Size, setup.DescAddr, setup.AvailAddr, setup.UsedAddr, ringFeatures);
            // Validate, then assign: check the rings against the memory table before the notifier
            // takes the new fds, so a rejected setup leaves a queue that was set up before intact.
            var placement = RingPointers.Resolve(_memory, config, out _);
            if (placement != QueueConfigError.None) return Fail(out error, -Errno.EINVAL, $"queue {index}: {placement}");
            int rc = _q[index].Notifier.Set(setup.KickFd, setup.CallFd, setup.InterruptFn, setup.InterruptUser, out error);
            if (rc < 0) return rc;
            var qrc = _q[index].Ring.Configure(_memory, config);
            if (qrc != QueueConfigError.None)
            {
                _q[index].Notifier.CloseFds();
                _q[index].Configured = false;
                return Fail(out error, -Errno.EINVAL, $"queue {index}: {qrc}");
            }
            _q[index].Configured = true;
            return 0;
        }
    }

    /// <summary>Sets where a stopped queue resumes (vhost-user SET_VRING_BASE).</summary>
    public int SetBase(uint queueIndex, ushort lastAvailIdx, out string error)
    {
        lock (_gate)
        {
            if (Busy(out error)) return -Errno.EBUSY;
            uint index = QueueSlot.Of(queueIndex, _fiveQueues);
            if (index == QueueSlot.Invalid) return Fail(out error, -Errno.EINVAL, $"queue index {queueIndex}");
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
            uint index = QueueSlot.Of(queueIndex, _fiveQueues);
            if (index == QueueSlot.Invalid) return Fail(out error, -Errno.EINVAL, $"queue index {queueIndex}");
            lastAvailIdx = _q[index].Ring.LastAvailIdx;
            return 0;
        }
    }

    public int GetQueueCounters(uint queueIndex, out QueueCounters counters, out string error)
    {
        counters = default;
        error = "";
        uint index = QueueSlot.Of(queueIndex, _fiveQueues);
        if (index == QueueSlot.Invalid) return Fail(out error, -Errno.EINVAL, $"queue index {queueIndex}");
        lock (_gate) counters = _q[index].Ring.Counters;
        return 0;
    }

    public DeviceCounters Counters
    {
        get
        {
            DeviceCounters c;
            lock (_gate) c = _counters;
            c.Kicks += (ulong)Interlocked.Read(ref _notifyKicks);
            return c;
        }
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

    private bool _disposed;

    public void Dispose()
    {
        Stop();
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            _muxer.Dispose();
            _dgram.Dispose();
            foreach (var q in _q) q.Notifier.CloseFds();
            _epoll.Dispose();
            Libc.Close(_wakeFd);
        }
    }
}
