namespace VsockNative.Virtqueue;

/// <summary>Flags of <c>struct virtq_desc</c> (virtio 1.2 §2.7.5).</summary>
public static class VirtqDescFlags
{
    /// <summary>VIRTQ_DESC_F_NEXT: the chain continues at <c>next</c>.</summary>
    public const ushort Next = 1;

    /// <summary>VIRTQ_DESC_F_WRITE: the buffer is device-writable (otherwise device-readable).</summary>
    public const ushort Write = 2;

    /// <summary>VIRTQ_DESC_F_INDIRECT: the buffer holds a table of descriptors (§2.7.5.3).</summary>
    public const ushort Indirect = 4;
}

/// <summary>Flags of the available and used rings (virtio 1.2 §2.7.6, §2.7.8).</summary>
public static class VirtqRingFlags
{
    /// <summary>VIRTQ_AVAIL_F_NO_INTERRUPT, in <c>avail-&gt;flags</c>: the driver asks for no used-buffer notification.</summary>
    public const ushort AvailNoInterrupt = 1;

    /// <summary>VIRTQ_USED_F_NO_NOTIFY, in <c>used-&gt;flags</c>: the device asks for no available-buffer notification (kick).</summary>
    public const ushort UsedNoNotify = 1;
}
