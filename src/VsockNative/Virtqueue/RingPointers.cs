using VsockNative.Memory;

namespace VsockNative.Virtqueue;

/// <summary>
/// Host addresses of the three parts of a configured queue, each checked to lie inside one guest
/// region with its full size, and aligned in host memory as in guest memory (so the index
/// fields can be accessed atomically).
/// </summary>
internal readonly struct RingPointers
{
    private RingPointers(nint desc, nint avail, nint used)
    {
        Desc = desc;
        Avail = avail;
        Used = used;
    }

    /// <summary>Host address of the descriptor table.</summary>
    public nint Desc { get; }

    /// <summary>Host address of the available ring.</summary>
    public nint Avail { get; }

    /// <summary>Host address of the used ring.</summary>
    public nint Used { get; }

    /// <summary>Validates <paramref name="config"/> against <paramref name="memory"/>; no side effect.</summary>
    public static QueueConfigError Resolve(GuestMemory memory, in QueueConfig config, out RingPointers rings)
    {
        rings = default;
        QueueConfigError error = config.ValidateShape();
        if (error != QueueConfigError.None)
            return error;

        int size = (int)config.Size;
        error = ResolvePart(memory, config.DescTableAddress, RingLayout.DescTableSize(size),
            RingLayout.DescTableAlignment, QueueConfigError.DescTableNotInMemory,
            QueueConfigError.DescTableMisaligned, out nint desc);
        if (error != QueueConfigError.None)
            return error;
        error = ResolvePart(memory, config.AvailRingAddress, RingLayout.AvailRingSize(size),
            RingLayout.AvailRingAlignment, QueueConfigError.AvailRingNotInMemory,
            QueueConfigError.AvailRingMisaligned, out nint avail);
        if (error != QueueConfigError.None)
            return error;
        error = ResolvePart(memory, config.UsedRingAddress, RingLayout.UsedRingSize(size),
            RingLayout.UsedRingAlignment, QueueConfigError.UsedRingNotInMemory,
            QueueConfigError.UsedRingMisaligned, out nint used);
        if (error != QueueConfigError.None)
            return error;

        rings = new RingPointers(desc, avail, used);
        return QueueConfigError.None;
    }

    private static QueueConfigError ResolvePart(GuestMemory memory, ulong address, ulong length,
        int alignment, QueueConfigError notInMemory, QueueConfigError misaligned, out nint host)
    {
        if (memory.TranslateContiguous(address, length, out host) != TranslateError.None)
            return notInMemory;
        return (nuint)host % (nuint)alignment == 0 ? QueueConfigError.None : misaligned;
    }
}
