namespace VsockNative.Virtqueue;

/// <summary>
/// Per-queue counters for diagnosis: plain <c>ulong</c> fields, copied out by
/// <see cref="SplitQueue.Counters"/>, zeroed by <see cref="SplitQueue.Reset"/>.
/// </summary>
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

    /// <summary>Bad chains with <see cref="ChainError.HeadOutOfRange"/>.</summary>
    public ulong HeadOutOfRange;

    /// <summary>Bad chains with <see cref="ChainError.NextOutOfRange"/>.</summary>
    public ulong NextOutOfRange;

    /// <summary>Bad chains with <see cref="ChainError.ChainTooLong"/>.</summary>
    public ulong ChainTooLong;

    /// <summary>Bad chains with <see cref="ChainError.IndirectNotNegotiated"/>.</summary>
    public ulong IndirectNotNegotiated;

    /// <summary>Bad chains with <see cref="ChainError.NestedIndirect"/>.</summary>
    public ulong NestedIndirect;

    /// <summary>Bad chains with <see cref="ChainError.IndirectWithNext"/>.</summary>
    public ulong IndirectWithNext;

    /// <summary>Bad chains with <see cref="ChainError.IndirectTableEmpty"/>.</summary>
    public ulong IndirectTableEmpty;

    /// <summary>Bad chains with <see cref="ChainError.IndirectTableLengthInvalid"/>.</summary>
    public ulong IndirectTableLengthInvalid;

    /// <summary>Bad chains with <see cref="ChainError.IndirectTableOutOfMemory"/>.</summary>
    public ulong IndirectTableOutOfMemory;

    /// <summary>Bad chains with <see cref="ChainError.ReadableAfterWritable"/>.</summary>
    public ulong ReadableAfterWritable;

    /// <summary>Bad chains with <see cref="ChainError.BufferOutOfMemory"/>.</summary>
    public ulong BufferOutOfMemory;

    /// <summary>Bad chains with <see cref="ChainError.BufferAddressWrap"/>.</summary>
    public ulong BufferAddressWrap;

    /// <summary>Bad chains with <see cref="ChainError.TooManySegments"/>.</summary>
    public ulong TooManySegments;

    /// <summary>Bad chains with <see cref="ChainError.LengthOverflow"/>.</summary>
    public ulong LengthOverflow;

    /// <summary>Times the queue became broken (see <see cref="QueueFault"/>).</summary>
    public ulong QueueFaults;

    /// <summary><see cref="SplitQueue.NeedsInterrupt"/> answers of true.</summary>
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
