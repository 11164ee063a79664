using System.Collections.Generic;

namespace VsockNative.EventLoop;

/// <summary>Something with a deadline in a <see cref="TimerHeap{T}"/>.</summary>
internal interface ITimed
{
    /// <summary>The item's deadline now (monotonic ms; long.MaxValue: none). It may move later at any
    /// time without telling the heap; when it moves earlier, call <see cref="TimerHeap{T}.Schedule"/>.</summary>
    long DeadlineMs { get; }

    /// <summary>The heap's own bookkeeping: the deadline of this item's live heap entry.</summary>
    long ScheduledMs { get; set; }
}

/// <summary>
/// Deadlines in a binary heap, so the loop never scans every connection to find the next one.
/// Lazy: an item's deadline may move later without the heap knowing (when its entry reaches the top,
/// the heap sees the later deadline and files the item again) and an item that is gone reports
/// long.MaxValue (its entry is dropped when it reaches the top). Only a deadline that moves earlier
/// needs <see cref="Schedule"/>. Entries of earlier schedules that were superseded are skipped.
/// Single-threaded (the event loop).
/// </summary>
internal sealed class TimerHeap<T> where T : class, ITimed
{
    private readonly PriorityQueue<T, long> _heap = new();

    /// <summary>Entries in the heap, superseded ones included.</summary>
    public int Count => _heap.Count;

    /// <summary>Files <paramref name="item"/> under its deadline when that is earlier than the one it
    /// is filed under (a no-op otherwise: call it after anything that may bring a deadline forward).</summary>
    public void Schedule(T item)
    {
        long deadline = item.DeadlineMs;
        if (deadline == long.MaxValue || deadline >= item.ScheduledMs) return;
        item.ScheduledMs = deadline;
        _heap.Enqueue(item, deadline);
    }

    /// <summary>The earliest deadline of any item, exact: entries superseded by an earlier schedule are
    /// dropped, and an item whose deadline moved later (or is gone) is filed again under its deadline
    /// first, so an idle loop is never woken for a deadline that no longer exists.</summary>
    public long NextDeadlineMs
    {
        get
        {
            while (_heap.TryPeek(out var item, out long deadline))
            {
                if (deadline == item.ScheduledMs && item.DeadlineMs == deadline) return deadline;
                _heap.Dequeue();
                if (deadline != item.ScheduledMs) continue;  // superseded by an earlier schedule
                item.ScheduledMs = long.MaxValue;
                Schedule(item);  // moved later: filed again (gone: not at all)
            }
            return long.MaxValue;
        }
    }

    /// <summary>Takes the next item whose deadline has passed; false when none has.</summary>
    public bool TryTakeDue(long nowMs, out T item)
    {
        while (_heap.TryPeek(out item!, out long deadline) && deadline <= nowMs)
        {
            _heap.Dequeue();
            if (deadline != item.ScheduledMs) continue;  // superseded
            item.ScheduledMs = long.MaxValue;
            if (item.DeadlineMs <= nowMs) return true;
            Schedule(item);  // moved later (or gone: not filed again)
        }
        item = null!;
        return false;
    }

    public void Clear()
    {
        while (_heap.TryDequeue(out var item, out _)) item.ScheduledMs = long.MaxValue;
    }
}
