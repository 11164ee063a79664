using System;

namespace VsockNative.Protocol;

/// <summary>
/// The boundaries of the complete guest messages waiting in a SEQPACKET connection's
/// <see cref="TxBuffer"/> for the host: a ring of (length, EOR) records, oldest first. Their bytes
/// are bounded by credit (buf_alloc), but empty messages cost no credit, so the count is bounded
/// here: at most <see cref="Capacity"/> records (the connection resets a guest that queues more).
/// The ring starts small and grows on demand, so a connection whose host keeps up holds 16 records.
/// </summary>
internal sealed class MessageQueue
{
    /// <summary>Most messages that may wait for the host at once.</summary>
    public const int Capacity = 4096;

    private (uint Length, bool Eor)[]? ring;
    private int head;
    private int count;

    public int Count => count;

    public bool IsEmpty => count == 0;

    public bool IsFull => count == Capacity;

    /// <summary>The oldest message.</summary>
    public (uint Length, bool Eor) Peek() => ring![head];

    /// <summary>Adds a message at the end; the caller checked <see cref="IsFull"/>.</summary>
    public void Enqueue(uint length, bool eor)
    {
        if (ring is null || count == ring.Length)
            Grow();
        ring![(head + count) % ring.Length] = (length, eor);
        count++;
    }

    public void Dequeue()
    {
        head = (head + 1) % ring!.Length;
        count--;
        if (count == 0)
            head = 0;
    }

    public void Clear()
    {
        head = 0;
        count = 0;
    }

    /// <summary>Empties the queue for a recycled connection; a ring that grew beyond its first size is
    /// let go (a spare connection holds 16 records at most).</summary>
    public void Reset()
    {
        Clear();
        if (ring is { Length: > InitialSize })
            ring = null;
        else if (ring is not null)
            Array.Clear(ring);  // a kept ring holds nothing of the previous connection
    }

    private const int InitialSize = 16;

    private void Grow()
    {
        int size = ring is null ? InitialSize : Math.Min(ring.Length * 2, Capacity);
        var bigger = new (uint, bool)[size];
        for (int i = 0; i < count; i++)
            bigger[i] = ring![(head + i) % ring.Length];
        ring = bigger;
        head = 0;
    }
}
