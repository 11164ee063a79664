using VsockNative.Virtqueue;
using Xunit;

namespace VsockNative.Tests.Virtqueue;

public class NotificationTests
{
    private static void CompleteOne(QueueFixture fx)
    {
        ushort head = fx.AddSimpleChain(4);
        fx.PopGood(head);
    }

    [Fact]
    public void Without_event_idx_interrupt_follows_no_interrupt_flag()
    {
        using var fx = new QueueFixture(VirtqFeatures.None);
        CompleteOne(fx);
        Assert.True(fx.Queue.NeedsInterrupt());
        Assert.False(fx.Queue.NeedsInterrupt()); // nothing published since

        fx.Driver.AvailFlags = VirtqRingFlags.AvailNoInterrupt;
        CompleteOne(fx);
        Assert.False(fx.Queue.NeedsInterrupt());

        fx.Driver.AvailFlags = 0;
        CompleteOne(fx);
        Assert.True(fx.Queue.NeedsInterrupt());
        Assert.Equal(2ul, fx.Queue.Counters.InterruptsNeeded);
        Assert.Equal(1ul, fx.Queue.Counters.InterruptsSuppressed);
    }

    [Fact]
    public void Unpublished_entries_do_not_ask_for_an_interrupt()
    {
        using var fx = new QueueFixture(VirtqFeatures.None);
        CompleteOne(fx);
        Assert.True(fx.Queue.NeedsInterrupt());
        ushort head = fx.AddSimpleChain();
        Assert.Equal(PopResult.Chain, fx.Queue.Pop(fx.Chain));
        Assert.Equal(QueueError.None, fx.Queue.PushUsed(head, 0));
        Assert.False(fx.Queue.NeedsInterrupt());
        Assert.Equal(QueueError.None, fx.Queue.PublishUsed());
        Assert.True(fx.Queue.NeedsInterrupt());
    }

    [Fact]
    public void With_event_idx_interrupt_follows_used_event_and_ignores_the_flag()
    {
        using var fx = new QueueFixture(VirtqFeatures.EventIdx);
        fx.Driver.AvailFlags = VirtqRingFlags.AvailNoInterrupt; // must be ignored with EVENT_IDX
        CompleteOne(fx);                       // used idx 0 -> 1
        Assert.True(fx.Queue.NeedsInterrupt()); // first decision after start

        fx.Driver.UsedEvent = 3;               // "interrupt me once entry 3 is used"
        CompleteOne(fx);                       // 1 -> 2
        Assert.False(fx.Queue.NeedsInterrupt());
        CompleteOne(fx);                       // 2 -> 3
        Assert.False(fx.Queue.NeedsInterrupt());
        CompleteOne(fx);                       // 3 -> 4 crosses 3
        Assert.True(fx.Queue.NeedsInterrupt());

        fx.Driver.UsedEvent = 6;
        for (int i = 0; i < 4; i++)
        {
            ushort head = fx.AddSimpleChain();
            Assert.Equal(PopResult.Chain, fx.Queue.Pop(fx.Chain));
            Assert.Equal(QueueError.None, fx.Queue.PushUsed(head, 0));
        }

        Assert.Equal(QueueError.None, fx.Queue.PublishUsed()); // batch 4 -> 8 crosses 6
        Assert.True(fx.Queue.NeedsInterrupt());
        Assert.Equal(3ul, fx.Queue.Counters.InterruptsNeeded);
        Assert.Equal(2ul, fx.Queue.Counters.InterruptsSuppressed);
    }

    [Fact]
    public void Event_idx_decisions_wrap_at_65536()
    {
        using var fx = new QueueFixture(VirtqFeatures.EventIdx, size: 16);
        Assert.Equal(QueueError.None, fx.Queue.Stop());
        fx.Driver.AvailIdx = 65533;
        fx.Driver.UsedIdx = 65533;
        Assert.Equal(QueueError.None, fx.Queue.SetLastAvailIdx(65533));
        Assert.Equal(QueueError.None, fx.Queue.Start());

        CompleteOne(fx);                        // 65533 -> 65534
        Assert.True(fx.Queue.NeedsInterrupt()); // first decision after start
        fx.Driver.UsedEvent = 65535;
        CompleteOne(fx);                        // 65534 -> 65535
        Assert.False(fx.Queue.NeedsInterrupt());
        CompleteOne(fx);                        // 65535 -> 0 crosses 65535
        Assert.True(fx.Queue.NeedsInterrupt());
        Assert.Equal(0, fx.Driver.UsedIdx);

        fx.Driver.UsedEvent = 1;
        CompleteOne(fx);                        // 0 -> 1
        Assert.False(fx.Queue.NeedsInterrupt());
        CompleteOne(fx);                        // 1 -> 2 crosses 1
        Assert.True(fx.Queue.NeedsInterrupt());
    }

    [Fact]
    public void First_decision_after_start_interrupts_with_event_idx_even_if_used_event_is_stale()
    {
        using var fx = new QueueFixture(VirtqFeatures.EventIdx);
        Assert.Equal(QueueError.None, fx.Queue.Stop());
        fx.Driver.UsedEvent = 100; // left over from a previous backend; the driver waits for an interrupt
        Assert.Equal(QueueError.None, fx.Queue.Start());
        Assert.True(fx.Queue.NeedsInterrupt());
        Assert.False(fx.Queue.NeedsInterrupt());
    }

    [Fact]
    public void Kick_suppression_without_event_idx_uses_the_no_notify_flag()
    {
        using var fx = new QueueFixture(VirtqFeatures.None);
        Assert.True(fx.Queue.KicksEnabled);
        Assert.Equal(0, fx.Driver.UsedFlags);

        fx.Queue.DisableKicks();
        Assert.False(fx.Queue.KicksEnabled);
        Assert.Equal(VirtqRingFlags.UsedNoNotify, fx.Driver.UsedFlags);
        fx.Queue.DisableKicks(); // no state change, not counted again

        Assert.False(fx.Queue.EnableKicks()); // nothing pending
        Assert.True(fx.Queue.KicksEnabled);
        Assert.Equal(0, fx.Driver.UsedFlags);
        Assert.Equal(1ul, fx.Queue.Counters.KicksDisabled);
        Assert.Equal(1ul, fx.Queue.Counters.KicksEnabled);
    }

    [Fact]
    public void Reenabling_kicks_rechecks_the_ring_so_a_chain_added_meanwhile_is_not_missed()
    {
        using var fx = new QueueFixture(VirtqFeatures.None);
        fx.Queue.DisableKicks();
        Assert.Equal(PopResult.Empty, fx.Queue.Pop(fx.Chain));
        ushort head = fx.AddSimpleChain(); // the driver saw NO_NOTIFY and did not kick
        Assert.True(fx.Queue.EnableKicks());
        fx.PopGood(head);
        Assert.Equal(PopResult.Empty, fx.Queue.Pop(fx.Chain));
        Assert.False(fx.Queue.EnableKicks());
    }

    [Fact]
    public void Kick_suppression_with_event_idx_uses_avail_event()
    {
        using var fx = new QueueFixture(VirtqFeatures.EventIdx);
        Assert.Equal(0, fx.Driver.AvailEvent);
        CompleteOne(fx);
        Assert.Equal(1, fx.Driver.AvailEvent); // = last_avail_idx after each pop while enabled
        Assert.Equal(0, fx.Driver.UsedFlags);   // the flag is not used with EVENT_IDX

        fx.Queue.DisableKicks();
        CompleteOne(fx);
        CompleteOne(fx);
        Assert.Equal(1, fx.Driver.AvailEvent); // frozen: the driver has passed it, so it stops kicking
        Assert.Equal(0, fx.Driver.UsedFlags);

        ushort head = fx.AddSimpleChain();
        Assert.True(fx.Queue.EnableKicks());   // re-check finds the chain added meanwhile
        Assert.Equal(3, fx.Driver.AvailEvent); // = last_avail_idx
        fx.PopGood(head);
        Assert.Equal(4, fx.Driver.AvailEvent);
    }

    [Fact]
    public void Stopped_queue_neither_interrupts_nor_touches_kick_state()
    {
        using var fx = new QueueFixture(VirtqFeatures.None);
        CompleteOne(fx);
        Assert.Equal(QueueError.None, fx.Queue.Stop());
        Assert.False(fx.Queue.NeedsInterrupt());
        fx.Queue.DisableKicks();
        Assert.Equal(0, fx.Driver.UsedFlags);
        Assert.False(fx.Queue.EnableKicks());
    }
}
