using System.Threading;

namespace VsockNative.Virtqueue;

/// <summary>
/// Notification suppression in both directions: used-buffer notifications (interrupts,
/// virtio 1.2 §2.7.7) and available-buffer notifications (kicks, §2.7.10).
/// </summary>
public sealed unsafe partial class SplitQueue
{
    /// <summary>Published used index at the previous interrupt decision ("old" in vring_need_event).</summary>
    private ushort signalledUsedIdx;

    /// <summary>False until the first interrupt decision after <see cref="Start"/>.</summary>
    private bool signalledUsedValid;

    private bool kicksEnabled;

    /// <summary>Whether the device currently asks the driver for kicks.</summary>
    public bool KicksEnabled => kicksEnabled;

    /// <summary>The published used index at the last interrupt decision, and whether there was one
    /// since the start (a device snapshot records them).</summary>
    public ushort SignalledUsedIdx => signalledUsedIdx;

    public bool SignalledUsedValid => signalledUsedValid;

    /// <summary>
    /// Asks the driver to kick when it makes its next buffer available, however many are available
    /// now: with EVENT_IDX, avail_event = the driver's current avail->idx (the usual request,
    /// avail_event = last_avail_idx, is already behind the driver when buffers wait); without it,
    /// clears VIRTQ_USED_F_NO_NOTIFY. The device uses it to hear when a driver has acted on an event.
    /// Does nothing unless the queue is running.
    /// </summary>
    public void RequestKickAtNextAvail()
    {
        if (state != QueueState.Running)
            return;
        kicksEnabled = true;
        if (HasFeature(VirtqFeatures.EventIdx))
            WriteAvailEvent(DriverAvailIdx);
        else
            WriteUsedFlags(0);
        // Full barrier (store -> load), as in EnableKicks: the request is visible before the caller
        // reads avail->idx again to see whether the driver moved meanwhile (virtio 1.2 §2.7.13.4).
        Interlocked.MemoryBarrier();
    }

    /// <summary>
    /// Decides, after <see cref="PublishUsed"/>, whether the driver wants an interrupt for the
    /// entries published since the previous decision. Without EVENT_IDX: unless the driver set
    /// VIRTQ_AVAIL_F_NO_INTERRUPT. With EVENT_IDX: when the used index crossed used_event
    /// (<see cref="EventIndex.NeedEvent"/>). False when nothing was published since the previous
    /// decision, except for the first decision after a start: with EVENT_IDX it always says yes
    /// (what a previous backend signalled is unknown, so the driver may be waiting), without it
    /// it follows the flag. False unless the queue is running.
    /// </summary>
    public bool NeedsInterrupt()
    {
        if (state != QueueState.Running)
            return false;
        ushort newIdx = publishedUsedIdx;
        ushort oldIdx = signalledUsedIdx;
        bool first = !signalledUsedValid;
        signalledUsedIdx = newIdx;
        signalledUsedValid = true;
        if (!first && newIdx == oldIdx)
            return false;

        // Full barrier (store -> load): the used->idx store in PublishUsed must be visible to the
        // driver before we load used_event / avail->flags. Release and acquire do not order a
        // store before a later load; without this the driver could read the old used->idx and
        // go to sleep after writing a used_event we have not seen yet — a lost interrupt. This
        // pairs with the driver's barrier between writing used_event and re-reading used->idx
        // (virtio 1.2 §2.7.7, §2.7.14).
        Interlocked.MemoryBarrier();
        bool needed = HasFeature(VirtqFeatures.EventIdx)
            ? first || EventIndex.NeedEvent(ReadUsedEvent(), newIdx, oldIdx)
            : (RingAccess.Read16(AvailRing + RingLayout.FlagsOffset) & VirtqRingFlags.AvailNoInterrupt) == 0;
        if (needed)
            counters.InterruptsNeeded++;
        else
            counters.InterruptsSuppressed++;
        return needed;
    }

    /// <summary>
    /// Asks the driver not to kick (while the device is busy popping anyway). Without EVENT_IDX
    /// sets VIRTQ_USED_F_NO_NOTIFY; with EVENT_IDX stops advancing avail_event, which the driver
    /// has then already passed. Does nothing unless the queue is running.
    /// </summary>
    public void DisableKicks()
    {
        if (state != QueueState.Running || !kicksEnabled)
            return;
        kicksEnabled = false;
        counters.KicksDisabled++;
        if (!HasFeature(VirtqFeatures.EventIdx))
            WriteUsedFlags(VirtqRingFlags.UsedNoNotify);
    }

    /// <summary>
    /// Asks the driver to kick again (clears VIRTQ_USED_F_NO_NOTIFY, or writes
    /// avail_event = last_avail_idx), then re-checks the available ring. Returns true when chains
    /// are available (or the queue just broke): the caller must pop again instead of waiting,
    /// since the driver may have added them before it saw the request to kick.
    /// </summary>
    public bool EnableKicks()
    {
        if (state != QueueState.Running)
            return false;
        if (!kicksEnabled)
        {
            kicksEnabled = true;
            counters.KicksEnabled++;
        }

        WriteKickRequest();

        // Full barrier (store -> load): the flag / avail_event store must be visible before we
        // re-read avail->idx. Otherwise the driver could publish a chain, read the old
        // NO_NOTIFY / avail_event and skip the kick, while we read the old avail->idx and wait:
        // a lost kick. Pairs with the driver's barrier between updating avail->idx and reading
        // the suppression fields (virtio 1.2 §2.7.13.4).
        Interlocked.MemoryBarrier();
        return lastAvailIdx != shadowAvailIdx || RefreshAvailIdx() || state == QueueState.Broken;
    }

    private void WriteKickRequest()
    {
        if (HasFeature(VirtqFeatures.EventIdx))
            WriteAvailEvent(lastAvailIdx);
        else
            WriteUsedFlags(0);
    }

    private ushort ReadUsedEvent() => RingAccess.Read16(AvailRing + RingLayout.UsedEventOffset(size));

    private void WriteAvailEvent(ushort value) =>
        RingAccess.WriteRelease16(UsedRing + RingLayout.AvailEventOffset(size), value);

    private void WriteUsedFlags(ushort value) =>
        RingAccess.WriteRelease16(UsedRing + RingLayout.FlagsOffset, value);

    private void StartNotify()
    {
        signalledUsedIdx = publishedUsedIdx;
        signalledUsedValid = false;
        kicksEnabled = true;
        WriteKickRequest();
    }

    private void ResetNotify()
    {
        signalledUsedIdx = 0;
        signalledUsedValid = false;
        kicksEnabled = false;
    }
}
