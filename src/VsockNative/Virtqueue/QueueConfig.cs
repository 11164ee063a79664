namespace VsockNative.Virtqueue;

/// <summary>
/// What the driver programs for one split queue: its size, the guest-physical addresses of its
/// three parts, and the negotiated ring features. Plain data; checked by <see cref="SplitQueue.Configure"/>.
/// </summary>
public readonly struct QueueConfig
{
    /// <summary>Creates a configuration; nothing is validated here.</summary>
    /// <param name="size">Queue size (number of descriptors): a power of two in 1..32768.</param>
    /// <param name="descTableAddress">GPA of the descriptor table (16-aligned).</param>
    /// <param name="availRingAddress">GPA of the available ring, the "driver area" (2-aligned).</param>
    /// <param name="usedRingAddress">GPA of the used ring, the "device area" (4-aligned).</param>
    /// <param name="features">Negotiated features; only the ring bits are honoured.</param>
    public QueueConfig(uint size, ulong descTableAddress, ulong availRingAddress, ulong usedRingAddress,
        VirtqFeatures features = VirtqFeatures.None)
    {
        Size = size;
        DescTableAddress = descTableAddress;
        AvailRingAddress = availRingAddress;
        UsedRingAddress = usedRingAddress;
        Features = features & (VirtqFeatures.IndirectDesc | VirtqFeatures.EventIdx);
    }

    /// <summary>Queue size (number of descriptors in the table and entries in each ring).</summary>
    public uint Size { get; }

    /// <summary>Guest-physical address of the descriptor table.</summary>
    public ulong DescTableAddress { get; }

    /// <summary>Guest-physical address of the available ring.</summary>
    public ulong AvailRingAddress { get; }

    /// <summary>Guest-physical address of the used ring.</summary>
    public ulong UsedRingAddress { get; }

    /// <summary>The ring features honoured by the queue (other bits are dropped at construction).</summary>
    public VirtqFeatures Features { get; }

    /// <summary>Checks the size and the guest-physical alignments (not memory placement).</summary>
    /// <returns><see cref="QueueConfigError.None"/> or the first problem found.</returns>
    public QueueConfigError ValidateShape()
    {
        if (Size == 0)
            return QueueConfigError.SizeZero;
        if (Size > RingLayout.MaxQueueSize)
            return QueueConfigError.SizeTooLarge;
        if ((Size & (Size - 1)) != 0)
            return QueueConfigError.SizeNotPowerOfTwo;
        if (DescTableAddress % RingLayout.DescTableAlignment != 0)
            return QueueConfigError.DescTableMisaligned;
        if (AvailRingAddress % RingLayout.AvailRingAlignment != 0)
            return QueueConfigError.AvailRingMisaligned;
        if (UsedRingAddress % RingLayout.UsedRingAlignment != 0)
            return QueueConfigError.UsedRingMisaligned;
        return QueueConfigError.None;
    }
}
