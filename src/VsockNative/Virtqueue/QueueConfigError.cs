namespace VsockNative.Virtqueue;

/// <summary>Why a queue configuration (or a memory replacement) was rejected; the queue is left unchanged.</summary>
public enum QueueConfigError
{
    /// <summary>The configuration is valid and was applied.</summary>
    None = 0,

    /// <summary>The queue size is 0.</summary>
    SizeZero,

    /// <summary>The queue size is larger than <see cref="RingLayout.MaxQueueSize"/> (32768).</summary>
    SizeTooLarge,

    /// <summary>The queue size is not a power of two.</summary>
    SizeNotPowerOfTwo,

    /// <summary>The descriptor table address, or its host mapping, is not 16-byte aligned.</summary>
    DescTableMisaligned,

    /// <summary>The available ring address, or its host mapping, is not 2-byte aligned.</summary>
    AvailRingMisaligned,

    /// <summary>The used ring address, or its host mapping, is not 4-byte aligned.</summary>
    UsedRingMisaligned,

    /// <summary>The descriptor table (16 × size bytes) does not lie inside one guest memory region.</summary>
    DescTableNotInMemory,

    /// <summary>The available ring (6 + 2 × size bytes, incl. used_event) does not lie inside one region.</summary>
    AvailRingNotInMemory,

    /// <summary>The used ring (6 + 8 × size bytes, incl. avail_event) does not lie inside one region.</summary>
    UsedRingNotInMemory,

    /// <summary>The queue is running; stop it first.</summary>
    QueueRunning,

    /// <summary>The queue has no configuration yet (memory replacement needs one).</summary>
    QueueNotConfigured,
}
