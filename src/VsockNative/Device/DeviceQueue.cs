using VsockNative.Interop;
using VsockNative.Virtqueue;
using VsockNative.Diagnostics;

namespace VsockNative.Device;

/// <summary>
/// One queue of the device with everything that belongs to it alone: the split ring, its
/// notifications (kick fd, interrupt sink), and its own chain storage, so no queue ever lends a
/// chain to another. A chain the device pops is either returned used (filled, or length 0 when it
/// is bad or unusable) or given back to the available side (<see cref="GiveBack"/>): never held.
/// Driven by the device's event loop under the device's lock.
/// </summary>
internal sealed class DeviceQueue
{
    /// <summary>Most host segments one chain may translate into (guest buffers split at region ends).</summary>
    public const int MaxSegments = 1024;

    private readonly bool[] _unusableLogged = new bool[3];
    private bool _badChainLogged;

    public DeviceQueue(uint slot)
    {
        Slot = slot;
        Notifier = new QueueNotifier(slot);
    }

    /// <summary>The device's own number of this queue (see <see cref="QueueSlot"/>).</summary>
    public uint Slot { get; }
    public SplitQueue Ring { get; } = new();
    public QueueNotifier Notifier { get; }
    /// <summary>The chain of the last pop (this queue's alone).</summary>
    public DescriptorChain Chain { get; } = new(MaxSegments);
    /// <summary>Set up (vsn_queue_setup) since the last reset.</summary>
    public bool Configured { get; set; }

    /// <summary>The driver's index of this queue (moves with the datagram layout).</summary>
    public uint DriverIndex => Notifier.Index;

    /// <summary>Why the ring cannot go on (the device then needs a reset), or null.</summary>
    public string? Fault { get; private set; }

    /// <summary>The one pop loop of every queue: pops the next well-formed chain into <see cref="Chain"/>.
    /// Bad chains are returned with length 0 and counted by the ring (logged once per reset); an empty
    /// ring re-enables kicks and looks once more. False when there is nothing to pop, or when the
    /// ring broke (then <see cref="Fault"/> says why).</summary>
    public bool PopNext(Logger log)
    {
        while (true)
        {
            var result = Ring.Pop(Chain);
            switch (result)
            {
                case PopResult.Chain:
                    return true;
                case PopResult.BadChain when Chain.Error == ChainError.HeadOutOfRange:
                    Fault = $"avail ring names descriptor {Chain.HeadIndex}, beyond the queue";
                    return false;
                case PopResult.BadChain:
                    if (!_badChainLogged && log.Enabled(LogLevel.Warn))
                        log.Warn($"queue {DriverIndex}: bad chain at head {Chain.HeadIndex}: {Chain.Error}; returned with length 0 (counted per reason in the queue counters; logged once)");
                    _badChainLogged = true;
                    Ring.PushUsed(Chain.HeadIndex, 0);
                    continue;
                case PopResult.Empty:
                    if (Ring.EnableKicks()) continue;
                    return false;
                case PopResult.Broken:
                    Fault = $"queue fault {Ring.Fault}";
                    return false;
                default:
                    return false;
            }
        }
    }

    /// <summary>Returns the popped chain with length 0: the device cannot use it (counted by reason,
    /// logged once per reason until the device is reset).</summary>
    public void ReturnUnusable(UnusableChain reason, Logger log)
    {
        Ring.PushUsed(Chain.HeadIndex, 0);
        Ring.CountUnusable(reason);
        if (_unusableLogged[(int)reason] || !log.Enabled(LogLevel.Warn)) return;
        _unusableLogged[(int)reason] = true;
        log.Warn($"queue {DriverIndex}: chain at head {Chain.HeadIndex} ({Chain.ReadableLength} readable, {Chain.WritableLength} writable bytes) cannot be used: {reason}; returned with length 0 (counted; logged once)");
    }

    /// <summary>Gives the popped chain back to the available side (nothing to put in it after all).</summary>
    public void GiveBack() => Ring.UndoPop(Chain);

    /// <summary>Forgets the fault and the log-once marks (device reset).</summary>
    public void Reset()
    {
        Ring.Reset();
        Notifier.CloseFds();
        Configured = false;
        Fault = null;
        _badChainLogged = false;
        System.Array.Clear(_unusableLogged);
    }
}
