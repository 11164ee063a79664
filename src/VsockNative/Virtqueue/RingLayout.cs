namespace VsockNative.Virtqueue;

/// <summary>
/// Sizes, offsets and alignments of the three parts of a split virtqueue (virtio 1.2 §2.7,
/// "Virtqueue Part" table). Sizes always include the event-index trailing fields.
/// </summary>
public static class RingLayout
{
    /// <summary>Largest queue size a split queue may have.</summary>
    public const int MaxQueueSize = 32768;

    /// <summary>Size of one <c>struct virtq_desc</c>.</summary>
    public const int DescriptorSize = 16;

    /// <summary>Required alignment of the descriptor table.</summary>
    public const int DescTableAlignment = 16;

    /// <summary>Required alignment of the available ring.</summary>
    public const int AvailRingAlignment = 2;

    /// <summary>Required alignment of the used ring.</summary>
    public const int UsedRingAlignment = 4;

    /// <summary>Offset of <c>flags</c> in both rings.</summary>
    public const int FlagsOffset = 0;

    /// <summary>Offset of <c>idx</c> in both rings.</summary>
    public const int IdxOffset = 2;

    /// <summary>Offset of <c>ring[0]</c> in both rings.</summary>
    public const int RingOffset = 4;

    /// <summary>Size of one available-ring entry (<c>le16</c> head index).</summary>
    public const int AvailElemSize = 2;

    /// <summary>Size of one <c>struct virtq_used_elem</c> (<c>le32 id; le32 len;</c>).</summary>
    public const int UsedElemSize = 8;

    /// <summary>Bytes of the descriptor table: 16 × size.</summary>
    public static ulong DescTableSize(int queueSize) => (ulong)queueSize * DescriptorSize;

    /// <summary>Bytes of the available ring: 6 + 2 × size (flags, idx, ring, used_event).</summary>
    public static ulong AvailRingSize(int queueSize) => 6 + (ulong)queueSize * AvailElemSize;

    /// <summary>Bytes of the used ring: 6 + 8 × size (flags, idx, ring, avail_event).</summary>
    public static ulong UsedRingSize(int queueSize) => 6 + (ulong)queueSize * UsedElemSize;

    /// <summary>Offset of <c>used_event</c>, the trailing field of the available ring.</summary>
    public static int UsedEventOffset(int queueSize) => RingOffset + queueSize * AvailElemSize;

    /// <summary>Offset of <c>avail_event</c>, the trailing field of the used ring.</summary>
    public static int AvailEventOffset(int queueSize) => RingOffset + queueSize * UsedElemSize;
}
