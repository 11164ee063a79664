using VsockNative.Memory;
using VsockNative.Tests.Memory;
using VsockNative.Virtqueue;
using Xunit;

namespace VsockNative.Tests.Virtqueue;

public class StopResumeTests
{
    [Fact]
    public void Reconnected_queue_resumes_at_last_avail_idx_without_losing_or_repeating_a_chain()
    {
        using var fx = new QueueFixture();
        var heads = new ushort[6];
        for (int i = 0; i < heads.Length; i++)
            heads[i] = fx.AddSimpleChain((uint)(10 + i), indirect: i % 2 == 1);
        for (int i = 0; i < 3; i++)
            fx.PopGood(heads[i], (uint)i);

        // vhost-user GET_VRING_BASE: stop, then read the resume point.
        Assert.Equal(QueueError.None, fx.Queue.Stop());
        ushort resumeAt = fx.Queue.LastAvailIdx;
        Assert.Equal(3, resumeAt);

        // A new backend (fresh queue object): SET_VRING_BASE, addresses, start.
        var queue = new SplitQueue();
        Assert.Equal(QueueError.None, queue.SetLastAvailIdx(resumeAt));
        Assert.Equal(QueueConfigError.None, queue.Configure(fx.Memory.Memory, fx.Driver.Config(VirtqFeatures.IndirectDesc)));
        Assert.Equal(QueueError.None, queue.Start());
        Assert.Equal(3, queue.NextUsedIdx); // taken from used->idx in guest memory

        for (int i = 3; i < heads.Length; i++)
        {
            Assert.Equal(PopResult.Chain, queue.Pop(fx.Chain));
            Assert.Equal(heads[i], fx.Chain.HeadIndex);
            Assert.Equal((uint)(10 + i), fx.Chain.ReadableLength);
            Assert.Equal(QueueError.None, queue.PushUsed(fx.Chain.HeadIndex, (uint)i));
        }

        Assert.Equal(PopResult.Empty, queue.Pop(fx.Chain));
        Assert.Equal(QueueError.None, queue.PublishUsed());
        Assert.Equal(6, fx.Driver.UsedIdx);
        for (int i = 0; i < heads.Length; i++)
            Assert.Equal(((uint)heads[i], (uint)i), fx.Driver.UsedElem((ushort)i));
    }

    [Fact]
    public void Stop_and_start_of_the_same_queue_continues_where_it_was()
    {
        using var fx = new QueueFixture();
        ushort first = fx.AddSimpleChain();
        ushort second = fx.AddSimpleChain();
        fx.PopGood(first);
        Assert.Equal(QueueError.None, fx.Queue.Stop());
        Assert.Equal(PopResult.NotRunning, fx.Queue.Pop(fx.Chain)); // consumes nothing
        Assert.Equal(QueueError.NotRunning, fx.Queue.PushUsed(0, 0));
        Assert.Equal(QueueError.None, fx.Queue.Start());
        fx.PopGood(second);
        Assert.Equal(PopResult.Empty, fx.Queue.Pop(fx.Chain));
    }

    [Fact]
    public void Stop_publishes_pushed_entries()
    {
        using var fx = new QueueFixture();
        ushort head = fx.AddSimpleChain();
        Assert.Equal(PopResult.Chain, fx.Queue.Pop(fx.Chain));
        Assert.Equal(QueueError.None, fx.Queue.PushUsed(head, 7));
        Assert.Equal(0, fx.Driver.UsedIdx);
        Assert.Equal(QueueError.None, fx.Queue.Stop());
        Assert.Equal(1, fx.Driver.UsedIdx);
        Assert.Equal(((uint)head, 7u), fx.Driver.UsedElem(0));
    }

    [Fact]
    public void Rewinding_last_avail_idx_replays_chains_not_yet_processed()
    {
        using var fx = new QueueFixture();
        ushort head = fx.AddSimpleChain();
        Assert.Equal(PopResult.Chain, fx.Queue.Pop(fx.Chain)); // popped but never pushed
        Assert.Equal(QueueError.None, fx.Queue.Stop());
        Assert.Equal(QueueError.None, fx.Queue.SetLastAvailIdx((ushort)(fx.Queue.LastAvailIdx - 1)));
        Assert.Equal(QueueError.None, fx.Queue.Start());
        fx.PopGood(head);
    }

    [Fact]
    public void Running_queue_refuses_index_and_configuration_changes()
    {
        using var fx = new QueueFixture();
        QueueConfig config = fx.Queue.Config;
        Assert.Equal(QueueError.Running, fx.Queue.SetLastAvailIdx(5));
        Assert.Equal(QueueConfigError.QueueRunning, fx.Queue.Configure(fx.Memory.Memory, config));
        Assert.Equal(QueueConfigError.QueueRunning, fx.Queue.ReplaceMemory(fx.Memory.Memory));
        Assert.Equal(QueueError.Running, fx.Queue.Start());
        Assert.Equal(0, fx.Queue.LastAvailIdx);
        Assert.Equal(QueueState.Running, fx.Queue.State);
    }

    [Fact]
    public void Reset_forgets_everything()
    {
        using var fx = new QueueFixture();
        fx.PopGood(fx.AddSimpleChain());
        fx.Queue.DisableKicks();
        fx.Queue.Reset();
        Assert.Equal(QueueState.Reset, fx.Queue.State);
        Assert.Null(fx.Queue.Memory);
        Assert.Equal(0u, fx.Queue.Config.Size);
        Assert.Equal(0, fx.Queue.LastAvailIdx);
        Assert.Equal(0, fx.Queue.NextUsedIdx);
        Assert.False(fx.Queue.KicksEnabled);
        Assert.Equal(default(QueueCounters), fx.Queue.Counters);
        Assert.Equal(PopResult.NotRunning, fx.Queue.Pop(fx.Chain));
        Assert.Equal(QueueError.NotConfigured, fx.Queue.Start());
        Assert.Equal(QueueError.NotConfigured, fx.Queue.Stop());
        Assert.Equal(QueueConfigError.QueueNotConfigured, fx.Queue.ReplaceMemory(fx.Memory.Memory));
    }

    [Fact]
    public void Memory_is_replaced_only_while_stopped_and_only_if_the_rings_still_fit()
    {
        using var fx = new QueueFixture();
        MockGuestMemory? other = null;
        try
        {
            // A table without the ring region (R0): rejected, the queue keeps its memory.
            other = new MockGuestMemory(new MockRegion(QueueFixture.R1, 0x10000));
            Assert.Equal(QueueError.None, fx.Queue.Stop());
            Assert.Equal(QueueConfigError.DescTableNotInMemory, fx.Queue.ReplaceMemory(other.Memory));
            Assert.Same(fx.Memory.Memory, fx.Queue.Memory);

            // A rebuilt table over the same host mappings: accepted.
            Assert.Equal(GuestMemoryError.None, GuestMemory.TryCreate(fx.Memory.Memory.Regions, out GuestMemory? same));
            Assert.Equal(QueueConfigError.None, fx.Queue.ReplaceMemory(same!));
            Assert.Same(same, fx.Queue.Memory);
            Assert.Equal(QueueState.Stopped, fx.Queue.State);
            Assert.Equal(QueueError.None, fx.Queue.Start());
            fx.PopGood(fx.AddSimpleChain());
        }
        finally
        {
            other?.Dispose();
        }
    }
}
