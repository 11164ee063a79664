using VsockNative.Memory;

namespace VsockNative.Virtqueue;

/// <summary>The available-ring side: consuming chains the driver made available (virtio 1.2 §2.7.6, §2.7.13).</summary>
public sealed unsafe partial class SplitQueue
{
    /// <summary>Last value read from <c>avail-&gt;idx</c>; entries in [lastAvailIdx, shadowAvailIdx) are known published.</summary>
    private ushort shadowAvailIdx;

    /// <summary>The last pop returned a chain that has not been given back (see <see cref="UndoPop"/>).</summary>
    private bool canUndo;

    /// <summary>
    /// Consumes the next available chain, if any, and describes it in <paramref name="chain"/>.
    /// A malformed chain is consumed too and reported as <see cref="PopResult.BadChain"/> with
    /// its head index. Allocates nothing and never throws for anything the guest wrote.
    /// </summary>
    /// <remarks>
    /// When this returns <see cref="PopResult.Empty"/>, call <see cref="EnableKicks"/> and pop
    /// again if it returns true, before waiting for the next kick; otherwise a chain published
    /// in between could wait for a kick that never comes.
    /// </remarks>
    /// <param name="chain">Caller-owned buffer, overwritten.</param>
    public PopResult Pop(DescriptorChain chain)
    {
        canUndo = false;
        if (state != QueueState.Running)
            return state == QueueState.Broken ? PopResult.Broken : PopResult.NotRunning;
        if (lastAvailIdx == shadowAvailIdx && !RefreshAvailIdx())
            return state == QueueState.Broken ? PopResult.Broken : PopResult.Empty;

        // Ordered after the acquire load of avail->idx in RefreshAvailIdx; read once.
        byte* slot = AvailRing + RingLayout.RingOffset + (lastAvailIdx & (size - 1)) * RingLayout.AvailElemSize;
        ushort head = RingAccess.Read16(slot);
        lastAvailIdx++;
        if (kicksEnabled && HasFeature(VirtqFeatures.EventIdx))
            WriteAvailEvent(lastAvailIdx);

        ChainError error = ChainWalker.Walk(memory!, (byte*)rings.Desc, size, head,
            HasFeature(VirtqFeatures.IndirectDesc), chain);
        PopResult result = CountPopped(chain, error);
        canUndo = result == PopResult.Chain;
        return result;
    }

    /// <summary>
    /// Gives the chain of the last <see cref="Pop"/> back to the available side, unused: the next
    /// pop returns it again (rust-vmm's <c>go_to_previous_position</c>, Firecracker's <c>undo_pop</c>).
    /// The device uses it when it popped a buffer it has nothing to put in after all, so it never
    /// holds a chain. Only the last pop can be undone, and only when it returned
    /// <see cref="PopResult.Chain"/> (a bad chain is returned used, never given back).
    /// </summary>
    /// <param name="chain">The chain that pop described (its lengths leave the counters).</param>
    public QueueError UndoPop(DescriptorChain chain)
    {
        if (state != QueueState.Running)
            return state == QueueState.Broken ? QueueError.Broken : QueueError.NotRunning;
        if (!canUndo)
            return QueueError.NothingToUndo;
        canUndo = false;
        lastAvailIdx--;
        if (kicksEnabled && HasFeature(VirtqFeatures.EventIdx))
            WriteAvailEvent(lastAvailIdx);
        counters.ChainsPopped--;
        counters.ReadableBytes -= chain.ReadableLength;
        counters.WritableBytes -= chain.WritableLength;
        counters.ChainsGivenBack++;
        return QueueError.None;
    }

    /// <summary>
    /// The driver's <c>avail-&gt;idx</c> as it is in guest memory now (acquire), unchecked; 0 while
    /// the queue is reset (no rings).
    /// </summary>
    public ushort DriverAvailIdx =>
        state == QueueState.Reset ? (ushort)0 : RingAccess.ReadAcquire16(AvailRing + RingLayout.IdxOffset);

    /// <summary>
    /// Reads <c>avail-&gt;idx</c> and checks it. Returns true when new entries are available;
    /// breaks the queue when the driver claims more than a ring's worth of new entries.
    /// </summary>
    private bool RefreshAvailIdx()
    {
        // Acquire: the driver writes the ring entry (and the descriptors) before it updates
        // avail->idx, with a memory barrier between (virtio 1.2 §2.7.13.3 "Updating idx"). The
        // device pairs with an acquire load, so the entry and descriptor reads that follow
        // cannot be satisfied with values older than the index that made them available.
        ushort availIdx = RingAccess.ReadAcquire16(AvailRing + RingLayout.IdxOffset);
        if ((ushort)(availIdx - lastAvailIdx) > size)
        {
            BreakQueue(QueueFault.AvailIndexTooFarAhead);
            return false;
        }

        shadowAvailIdx = availIdx;
        return availIdx != lastAvailIdx;
    }

    private PopResult CountPopped(DescriptorChain chain, ChainError error)
    {
        if (error != ChainError.None)
        {
            counters.CountBadChain(error);
            return PopResult.BadChain;
        }

        counters.ChainsPopped++;
        counters.ReadableBytes += chain.ReadableLength;
        counters.WritableBytes += chain.WritableLength;
        return PopResult.Chain;
    }

    private void BreakQueue(QueueFault reason)
    {
        state = QueueState.Broken;
        fault = reason;
        counters.QueueFaults++;
    }

    /// <summary>Counts a well-formed chain the device could not use (it returns it with length 0).</summary>
    public void CountUnusable(UnusableChain reason) => counters.CountUnusable(reason);

    private void StartAvail()
    {
        shadowAvailIdx = lastAvailIdx;
        canUndo = false;
    }

    private void ResetAvail()
    {
        shadowAvailIdx = 0;
        canUndo = false;
    }
}
