namespace VsockNative.Virtqueue;

/// <summary>
/// A queue's counters for diagnosis (in vsn_queue_counters, from vsn_queue_get_counters): chains,
/// bytes, malformed chains by reason, unusable chains, interrupts and kicks. Zeroed by
/// vsn_device_reset.
/// </summary>
[Interop.CSection(Interop.AbiSection.Diagnostics, 1)]
[Interop.CStruct("vsn_queue_counter_values")]
public struct QueueCounters
{
    /// <summary>Well-formed chains popped.</summary>
    public ulong ChainsPopped;

    /// <summary>Device-readable bytes in the well-formed chains popped.</summary>
    public ulong ReadableBytes;

    /// <summary>Device-writable bytes in the well-formed chains popped.</summary>
    public ulong WritableBytes;

    /// <summary>Used entries pushed.</summary>
    public ulong UsedEntries;

    /// <summary>Sum of the lengths of the used entries pushed.</summary>
    public ulong UsedBytes;

    /// <summary>Malformed chains popped, all reasons (the sum of the per-reason counters below).</summary>
    public ulong BadChains;

    /// <summary>Bad chains whose head index (from the available ring) is not below the queue size.</summary>
    public ulong HeadOutOfRange;

    /// <summary>Bad chains with a next index not below the queue size (or the indirect table's entry count).</summary>
    public ulong NextOutOfRange;

    /// <summary>Bad chains longer than their descriptor table (a loop).</summary>
    public ulong ChainTooLong;

    /// <summary>Bad chains with VIRTQ_DESC_F_INDIRECT while VIRTIO_RING_F_INDIRECT_DESC was not negotiated.</summary>
    public ulong IndirectNotNegotiated;

    /// <summary>Bad chains with VIRTQ_DESC_F_INDIRECT inside an indirect table (nested tables are forbidden).</summary>
    public ulong NestedIndirect;

    /// <summary>Bad chains with a descriptor that has both VIRTQ_DESC_F_INDIRECT and VIRTQ_DESC_F_NEXT.</summary>
    public ulong IndirectWithNext;

    /// <summary>Bad chains with an indirect descriptor of length 0.</summary>
    public ulong IndirectTableEmpty;

    /// <summary>Bad chains with an indirect descriptor whose length is not a multiple of 16.</summary>
    public ulong IndirectTableLengthInvalid;

    /// <summary>Bad chains with an indirect table not entirely inside one guest memory region.</summary>
    public ulong IndirectTableOutOfMemory;

    /// <summary>Bad chains with a device-readable descriptor after a device-writable one.</summary>
    public ulong ReadableAfterWritable;

    /// <summary>Bad chains with a buffer byte outside every guest memory region.</summary>
    public ulong BufferOutOfMemory;

    /// <summary>Bad chains with a buffer whose addr + len does not fit in 64 bits.</summary>
    public ulong BufferAddressWrap;

    /// <summary>Bad chains that need more host memory segments than the device takes per chain.</summary>
    public ulong TooManySegments;

    /// <summary>Bad chains whose buffer lengths add up to more than 32 bits.</summary>
    public ulong LengthOverflow;

    /// <summary>Times the queue became broken (the device then sets VSN_DEVICE_STATUS_NEEDS_RESET).</summary>
    public ulong QueueFaults;

    /// <summary>Times used entries were published and the driver wanted an interrupt for them.</summary>
    public ulong InterruptsNeeded;

    /// <summary>Used entries were published but the driver's flag or used_event suppressed the interrupt.</summary>
    public ulong InterruptsSuppressed;

    /// <summary>Transitions from kicks enabled to kicks suppressed.</summary>
    public ulong KicksDisabled;

    /// <summary>Transitions from kicks suppressed to kicks enabled.</summary>
    public ulong KicksEnabled;

    /// <summary>Well-formed chains the device could not use, returned with length 0 (the sum of the
    /// three reasons below).</summary>
    public ulong UnusableChains;

    /// <summary>Unusable: device-readable buffers in a chain of a queue the device writes (rx, event).</summary>
    public ulong UnusableReadable;

    /// <summary>Unusable: fewer writable bytes than the smallest thing the queue carries (a 44-byte
    /// packet header on rx, an 8-byte event on the event queue).</summary>
    public ulong UnusableTooSmall;

    /// <summary>Unusable: an rx chain with room for a packet header and no payload byte at the head of
    /// the queue while only data was owed (returned so the data behind it can flow).</summary>
    public ulong UnusableHeaderOnly;

    /// <summary>Chains given back to the available ring unused (undo of a pop: the device had nothing
    /// to put in them after all); each is popped again later, so it is not a used entry.</summary>
    public ulong ChainsGivenBack;

    /// <summary>The per-reason bad-chain counter for <paramref name="error"/> (0 for <see cref="ChainError.None"/>).</summary>
    public readonly ulong BadChainsWith(ChainError error) => error switch
    {
        ChainError.HeadOutOfRange => HeadOutOfRange,
        ChainError.NextOutOfRange => NextOutOfRange,
        ChainError.ChainTooLong => ChainTooLong,
        ChainError.IndirectNotNegotiated => IndirectNotNegotiated,
        ChainError.NestedIndirect => NestedIndirect,
        ChainError.IndirectWithNext => IndirectWithNext,
        ChainError.IndirectTableEmpty => IndirectTableEmpty,
        ChainError.IndirectTableLengthInvalid => IndirectTableLengthInvalid,
        ChainError.IndirectTableOutOfMemory => IndirectTableOutOfMemory,
        ChainError.ReadableAfterWritable => ReadableAfterWritable,
        ChainError.BufferOutOfMemory => BufferOutOfMemory,
        ChainError.BufferAddressWrap => BufferAddressWrap,
        ChainError.TooManySegments => TooManySegments,
        ChainError.LengthOverflow => LengthOverflow,
        _ => 0,
    };

    /// <summary>Counts one unusable chain under its reason.</summary>
    internal void CountUnusable(UnusableChain reason)
    {
        UnusableChains++;
        switch (reason)
        {
            case UnusableChain.Readable: UnusableReadable++; break;
            case UnusableChain.TooSmall: UnusableTooSmall++; break;
            case UnusableChain.HeaderOnly: UnusableHeaderOnly++; break;
        }
    }

    /// <summary>Counts one bad chain under its reason.</summary>
    internal void CountBadChain(ChainError error)
    {
        BadChains++;
        switch (error)
        {
            case ChainError.HeadOutOfRange: HeadOutOfRange++; break;
            case ChainError.NextOutOfRange: NextOutOfRange++; break;
            case ChainError.ChainTooLong: ChainTooLong++; break;
            case ChainError.IndirectNotNegotiated: IndirectNotNegotiated++; break;
            case ChainError.NestedIndirect: NestedIndirect++; break;
            case ChainError.IndirectWithNext: IndirectWithNext++; break;
            case ChainError.IndirectTableEmpty: IndirectTableEmpty++; break;
            case ChainError.IndirectTableLengthInvalid: IndirectTableLengthInvalid++; break;
            case ChainError.IndirectTableOutOfMemory: IndirectTableOutOfMemory++; break;
            case ChainError.ReadableAfterWritable: ReadableAfterWritable++; break;
            case ChainError.BufferOutOfMemory: BufferOutOfMemory++; break;
            case ChainError.BufferAddressWrap: BufferAddressWrap++; break;
            case ChainError.TooManySegments: TooManySegments++; break;
            case ChainError.LengthOverflow: LengthOverflow++; break;
        }
    }
}
