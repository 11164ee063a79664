namespace VsockNative.Virtqueue;

/// <summary>The used-ring side: returning chains to the driver (virtio 1.2 §2.7.8, §2.7.14).</summary>
public sealed unsafe partial class SplitQueue
{
    /// <summary>Free-running index of the next used-ring entry to write.</summary>
    private ushort nextUsedIdx;

    /// <summary>The value last stored in <c>used-&gt;idx</c>.</summary>
    private ushort publishedUsedIdx;

    /// <summary>Free-running index of the next used entry (pushed, maybe not yet published).</summary>
    public ushort NextUsedIdx => nextUsedIdx;

    /// <summary>The used index the driver can see (last value published).</summary>
    public ushort PublishedUsedIdx => publishedUsedIdx;

    /// <summary><c>used-&gt;idx</c> as it is in guest memory now (what the driver has seen: a start
    /// resumes from it); 0 while the queue is reset (no rings).</summary>
    public ushort GuestUsedIdx => state == QueueState.Reset ? (ushort)0 : RingAccess.Read16(UsedRing + RingLayout.IdxOffset);

    /// <summary>
    /// Writes a used entry (<paramref name="headIndex"/>, <paramref name="length"/>) without
    /// publishing it; call <see cref="PublishUsed"/> once after a batch.
    /// </summary>
    /// <param name="headIndex">The chain's <see cref="DescriptorChain.HeadIndex"/>.</param>
    /// <param name="length">Bytes the device wrote into the chain's writable buffers (0 for a bad chain).</param>
    /// <returns><see cref="QueueError.None"/>, <see cref="QueueError.NotRunning"/> or <see cref="QueueError.Broken"/>.</returns>
    public QueueError PushUsed(ushort headIndex, uint length)
    {
        if (state != QueueState.Running)
            return state == QueueState.Broken ? QueueError.Broken : QueueError.NotRunning;

        byte* elem = UsedRing + RingLayout.RingOffset + (nextUsedIdx & (size - 1)) * RingLayout.UsedElemSize;
        RingAccess.Write32(elem, headIndex);
        RingAccess.Write32(elem + 4, length);
        nextUsedIdx++;
        counters.UsedEntries++;
        counters.UsedBytes += length;
        return QueueError.None;
    }

    /// <summary>Makes every pushed entry visible to the driver by storing <c>used-&gt;idx</c>.</summary>
    /// <returns><see cref="QueueError.None"/>, <see cref="QueueError.NotRunning"/> or <see cref="QueueError.Broken"/>.</returns>
    public QueueError PublishUsed()
    {
        if (state != QueueState.Running)
            return state == QueueState.Broken ? QueueError.Broken : QueueError.NotRunning;
        if (nextUsedIdx == publishedUsedIdx)
            return QueueError.None;

        // Release: the used elements (id, len) must be visible before the index that publishes
        // them — "the device MUST set len prior to updating the used idx" (virtio 1.2 §2.7.8.2);
        // the driver reads idx then the entries (§2.7.14).
        RingAccess.WriteRelease16(UsedRing + RingLayout.IdxOffset, nextUsedIdx);
        publishedUsedIdx = nextUsedIdx;
        return QueueError.None;
    }

    private void StartUsed()
    {
        // The used index is the one the driver already saw: read it back from guest memory.
        nextUsedIdx = RingAccess.Read16(UsedRing + RingLayout.IdxOffset);
        publishedUsedIdx = nextUsedIdx;
    }

    private void ResetUsed() => nextUsedIdx = publishedUsedIdx = 0;
}
