using System;
using VsockNative.Memory;

namespace VsockNative.Virtqueue;

/// <summary>
/// The device side of one split virtqueue (virtio 1.2 §2.7): consumes descriptor chains from the
/// available ring, returns them through the used ring, and decides on notifications in both
/// directions. This part holds the state and the life cycle; the rings are handled in the
/// <c>SplitQueue.Avail</c>, <c>SplitQueue.Used</c> and <c>SplitQueue.Notify</c> parts.
/// </summary>
/// <remarks>
/// <para>Life cycle: <see cref="QueueState.Reset"/> → <see cref="Configure"/> →
/// <see cref="QueueState.Stopped"/> → <see cref="Start"/> → <see cref="QueueState.Running"/> →
/// <see cref="Stop"/> → Stopped … A queue-level fault makes it <see cref="QueueState.Broken"/>
/// (inert) until it is configured again or reset.</para>
/// <para>Memory: the queue keeps a reference to the <see cref="GuestMemory"/> it was configured
/// with and caches host pointers to its rings. A new memory table is only handed over while the
/// queue is stopped (<see cref="ReplaceMemory"/>), so the running queue never sees a table change.</para>
/// <para>Threading: not thread-safe; one thread (the device's event loop) drives a queue. The
/// only concurrency is with the guest driver, through guest memory, with the barriers the spec
/// asks for.</para>
/// </remarks>
public sealed unsafe partial class SplitQueue
{
    private GuestMemory? memory;
    private QueueConfig config;
    private RingPointers rings;
    private int size;
    private QueueState state;
    private QueueFault fault;
    private ushort lastAvailIdx;
    private QueueCounters counters;

    /// <summary>Life-cycle state.</summary>
    public QueueState State => state;

    /// <summary>Why the queue is broken, or <see cref="QueueFault.None"/>.</summary>
    public QueueFault Fault => fault;

    /// <summary>The accepted configuration (default while <see cref="QueueState.Reset"/>).</summary>
    public QueueConfig Config => config;

    /// <summary>The memory table the rings were checked against (null while reset).</summary>
    public GuestMemory? Memory => memory;

    /// <summary>
    /// Free-running index of the next available-ring entry the device will consume
    /// (vhost-user <c>GET_VRING_BASE</c> value once the queue is stopped).
    /// </summary>
    public ushort LastAvailIdx => lastAvailIdx;

    /// <summary>A copy of the counters.</summary>
    public QueueCounters Counters => counters;

    /// <summary>
    /// Validates <paramref name="newConfig"/> against <paramref name="newMemory"/> (size, alignment,
    /// each part inside one region with its full size), then applies it: the queue becomes
    /// <see cref="QueueState.Stopped"/> and any fault is cleared; last_avail_idx is kept (set it
    /// with <see cref="SetLastAvailIdx"/>). On error nothing changes.
    /// </summary>
    /// <returns><see cref="QueueConfigError.None"/>, <see cref="QueueConfigError.QueueRunning"/>, or the first invalid part.</returns>
    public QueueConfigError Configure(GuestMemory newMemory, in QueueConfig newConfig)
    {
        ArgumentNullException.ThrowIfNull(newMemory);
        if (state == QueueState.Running)
            return QueueConfigError.QueueRunning;
        QueueConfigError error = RingPointers.Resolve(newMemory, newConfig, out RingPointers resolved);
        if (error != QueueConfigError.None)
            return error;

        memory = newMemory;
        config = newConfig;
        rings = resolved;
        size = (int)newConfig.Size;
        state = QueueState.Stopped;
        fault = QueueFault.None;
        return QueueConfigError.None;
    }

    /// <summary>
    /// Re-checks the current configuration against a new memory table and switches to it
    /// (validate, then assign). Allowed only while stopped or broken; the state is unchanged.
    /// </summary>
    /// <returns><see cref="QueueConfigError.None"/>, <see cref="QueueConfigError.QueueRunning"/>,
    /// <see cref="QueueConfigError.QueueNotConfigured"/>, or the ring that no longer fits.</returns>
    public QueueConfigError ReplaceMemory(GuestMemory newMemory)
    {
        ArgumentNullException.ThrowIfNull(newMemory);
        if (state == QueueState.Running)
            return QueueConfigError.QueueRunning;
        if (state == QueueState.Reset)
            return QueueConfigError.QueueNotConfigured;
        QueueConfigError error = RingPointers.Resolve(newMemory, config, out RingPointers resolved);
        if (error != QueueConfigError.None)
            return error;
        memory = newMemory;
        rings = resolved;
        return QueueConfigError.None;
    }

    /// <summary>
    /// Sets the index of the next available-ring entry to consume (vhost-user
    /// <c>SET_VRING_BASE</c>), so a stopped or reconnected queue resumes exactly where it
    /// stopped. Allowed in every state but <see cref="QueueState.Running"/>.
    /// </summary>
    public QueueError SetLastAvailIdx(ushort value)
    {
        if (state == QueueState.Running)
            return QueueError.Running;
        lastAvailIdx = value;
        return QueueError.None;
    }

    /// <summary>
    /// Starts processing. The used index is taken from <c>used-&gt;idx</c> in guest memory (what
    /// the driver has seen, as libvhost-user does on reconnect), kicks are enabled, and the first
    /// <see cref="NeedsInterrupt"/> afterwards does not rely on state from before the start.
    /// </summary>
    /// <returns><see cref="QueueError.None"/>, or why the queue cannot start.</returns>
    public QueueError Start()
    {
        switch (state)
        {
            case QueueState.Reset: return QueueError.NotConfigured;
            case QueueState.Running: return QueueError.Running;
            case QueueState.Broken: return QueueError.Broken;
        }

        state = QueueState.Running;
        StartUsed();
        StartAvail();
        StartNotify();
        return QueueError.None;
    }

    /// <summary>
    /// Stops processing: publishes used entries not yet published, then leaves the rings alone.
    /// <see cref="LastAvailIdx"/> is then the resume point. Chains popped but not pushed are not
    /// replayed after a restart: push them (or rewind with <see cref="SetLastAvailIdx"/>) first.
    /// Stopping a stopped or broken queue does nothing.
    /// </summary>
    /// <returns><see cref="QueueError.None"/>, or <see cref="QueueError.NotConfigured"/> while reset.</returns>
    public QueueError Stop()
    {
        if (state == QueueState.Reset)
            return QueueError.NotConfigured;
        if (state == QueueState.Running)
        {
            PublishUsed();
            state = QueueState.Stopped;
        }

        return QueueError.None;
    }

    /// <summary>Forgets everything: configuration, memory, indexes, fault and counters.</summary>
    public void Reset()
    {
        memory = null;
        config = default;
        rings = default;
        size = 0;
        state = QueueState.Reset;
        fault = QueueFault.None;
        lastAvailIdx = 0;
        counters = default;
        ResetAvail();
        ResetUsed();
        ResetNotify();
    }

    private bool HasFeature(VirtqFeatures feature) => (config.Features & feature) != 0;

    private byte* AvailRing => (byte*)rings.Avail;

    private byte* UsedRing => (byte*)rings.Used;
}
