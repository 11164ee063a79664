using VsockNative.EventLoop;
using Xunit;

namespace VsockNative.Tests.EventLoop;

public sealed class TimerHeapTests
{
    private sealed class Item : ITimed
    {
        public long Deadline = long.MaxValue;
        public long DeadlineMs => Deadline;
        public long ScheduledMs { get; set; } = long.MaxValue;
    }

    [Fact]
    public void Items_come_due_in_deadline_order_and_only_once()
    {
        var heap = new TimerHeap<Item>();
        var a = new Item { Deadline = 30 };
        var b = new Item { Deadline = 10 };
        var c = new Item { Deadline = 20 };
        heap.Schedule(a);
        heap.Schedule(b);
        heap.Schedule(c);
        Assert.Equal(10, heap.NextDeadlineMs);
        Assert.False(heap.TryTakeDue(9, out _));
        Assert.True(heap.TryTakeDue(25, out var first));
        Assert.Same(b, first);
        Assert.True(heap.TryTakeDue(25, out var second));
        Assert.Same(c, second);
        Assert.False(heap.TryTakeDue(25, out _));
        Assert.Equal(30, heap.NextDeadlineMs);
    }

    [Fact]
    public void A_deadline_moved_later_is_not_due_early_and_the_next_deadline_is_exact()
    {
        var heap = new TimerHeap<Item>();
        var a = new Item { Deadline = 10 };
        heap.Schedule(a);
        a.Deadline = 50;  // moved later without telling the heap
        Assert.Equal(50, heap.NextDeadlineMs);
        Assert.False(heap.TryTakeDue(20, out _));
        Assert.True(heap.TryTakeDue(50, out var due));
        Assert.Same(a, due);
    }

    [Fact]
    public void A_gone_item_never_comes_due_and_leaves_no_deadline()
    {
        var heap = new TimerHeap<Item>();
        var a = new Item { Deadline = 10 };
        heap.Schedule(a);
        a.Deadline = long.MaxValue;  // the connection was freed, or its timer cleared
        Assert.Equal(long.MaxValue, heap.NextDeadlineMs);
        Assert.False(heap.TryTakeDue(long.MaxValue - 1, out _));
        Assert.Equal(0, heap.Count);
    }

    [Fact]
    public void A_deadline_moved_earlier_needs_a_schedule_and_the_old_entry_is_skipped()
    {
        var heap = new TimerHeap<Item>();
        var a = new Item { Deadline = 100 };
        heap.Schedule(a);
        a.Deadline = 5;
        heap.Schedule(a);
        Assert.Equal(5, heap.NextDeadlineMs);
        Assert.True(heap.TryTakeDue(5, out _));
        Assert.False(heap.TryTakeDue(1000, out _));  // the superseded entry at 100 is not a second firing
        Assert.Equal(0, heap.Count);
    }
}
