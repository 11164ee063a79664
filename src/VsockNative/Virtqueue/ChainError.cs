namespace VsockNative.Virtqueue;

/// <summary>
/// Why a descriptor chain was rejected. A bad chain is consumed from the available ring and
/// reported with its head index, so the device can return it used with length 0; it never
/// breaks the queue. Rules from virtio 1.2 §2.7.5 (descriptor table) and §2.7.5.3 (indirect).
/// </summary>
public enum ChainError
{
    /// <summary>The chain is well formed.</summary>
    None = 0,

    /// <summary>The head index taken from the available ring is not below the queue size.</summary>
    HeadOutOfRange,

    /// <summary>A <c>next</c> index is not below the queue size (or the indirect table's entry count).</summary>
    NextOutOfRange,

    /// <summary>
    /// The walk visited more descriptors than its table holds (time-to-live expired). Without
    /// repeating an index no chain can be that long, so this is how a loop is reported.
    /// </summary>
    ChainTooLong,

    /// <summary>A descriptor has VIRTQ_DESC_F_INDIRECT but VIRTIO_F_INDIRECT_DESC was not negotiated.</summary>
    IndirectNotNegotiated,

    /// <summary>A descriptor inside an indirect table has VIRTQ_DESC_F_INDIRECT (nested tables are forbidden).</summary>
    NestedIndirect,

    /// <summary>A descriptor has both VIRTQ_DESC_F_INDIRECT and VIRTQ_DESC_F_NEXT.</summary>
    IndirectWithNext,

    /// <summary>An indirect descriptor has length 0 (a table with no entry).</summary>
    IndirectTableEmpty,

    /// <summary>An indirect descriptor's length is not a multiple of 16 (the descriptor size).</summary>
    IndirectTableLengthInvalid,

    /// <summary>An indirect table is not entirely inside one guest memory region (or its end wraps).</summary>
    IndirectTableOutOfMemory,

    /// <summary>A device-readable descriptor follows a device-writable one.</summary>
    ReadableAfterWritable,

    /// <summary>A buffer has a byte outside every guest memory region.</summary>
    BufferOutOfMemory,

    /// <summary>A buffer's <c>addr + len</c> does not fit in 64 bits.</summary>
    BufferAddressWrap,

    /// <summary>The chain needs more host segments than the caller's <see cref="DescriptorChain"/> holds.</summary>
    TooManySegments,

    /// <summary>The sum of all buffer lengths of the chain does not fit in 32 bits.</summary>
    LengthOverflow,
}
