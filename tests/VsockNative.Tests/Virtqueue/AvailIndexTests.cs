using VsockNative.Virtqueue;
using Xunit;

namespace VsockNative.Tests.Virtqueue;

public class AvailIndexTests
{
    [Fact]
    public void Avail_idx_more_than_queue_size_ahead_breaks_the_queue_until_reconfigured()
    {
        using var fx = new QueueFixture(size: 8);
        fx.Driver.AvailIdx = 9; // claims 9 new chains in an 8-entry ring
        Assert.Equal(PopResult.Broken, fx.Queue.Pop(fx.Chain));
        Assert.Equal(QueueState.Broken, fx.Queue.State);
        Assert.Equal(QueueFault.AvailIndexTooFarAhead, fx.Queue.Fault);
        Assert.Equal(1ul, fx.Queue.Counters.QueueFaults);
        Assert.Equal(0, fx.Queue.LastAvailIdx);

        // Inert: nothing is consumed or written even once the driver looks sane again.
        fx.Driver.AvailIdx = 0;
        ushort head = fx.AddSimpleChain();
        Assert.Equal(PopResult.Broken, fx.Queue.Pop(fx.Chain));
        Assert.Equal(QueueError.Broken, fx.Queue.PushUsed(0, 0));
        Assert.Equal(QueueError.Broken, fx.Queue.PublishUsed());
        Assert.False(fx.Queue.NeedsInterrupt());
        Assert.Equal(QueueError.Broken, fx.Queue.Start());
        Assert.Equal(0, fx.Driver.UsedIdx);

        // Reconfiguring clears the fault; the queue resumes at the same last_avail_idx.
        Assert.Equal(QueueConfigError.None, fx.Queue.Configure(fx.Memory.Memory, fx.Driver.Config(VirtqFeatures.IndirectDesc)));
        Assert.Equal(QueueState.Stopped, fx.Queue.State);
        Assert.Equal(QueueFault.None, fx.Queue.Fault);
        Assert.Equal(QueueError.None, fx.Queue.Start());
        fx.PopGood(head);
    }

    [Fact]
    public void Avail_idx_exactly_queue_size_ahead_is_accepted()
    {
        using var fx = new QueueFixture(size: 8);
        var heads = new ushort[8];
        for (int i = 0; i < 8; i++)
            heads[i] = fx.AddSimpleChain(4);
        foreach (ushort head in heads)
            fx.PopGood(head);
        Assert.Equal(PopResult.Empty, fx.Queue.Pop(fx.Chain));
        Assert.Equal(QueueState.Running, fx.Queue.State);
    }

    [Theory]
    [InlineData(5, false)]  // 65533 + 8 wraps to 5: exactly a ring ahead
    [InlineData(6, true)]   // 65533 + 9 wraps to 6: one more than the ring holds
    [InlineData(65532, true)] // one behind last_avail_idx, i.e. 65535 ahead
    public void Too_far_ahead_is_measured_with_16_bit_wrap(int availIdx, bool broken)
    {
        using var fx = new QueueFixture(size: 8);
        Assert.Equal(QueueError.None, fx.Queue.Stop());
        Assert.Equal(QueueError.None, fx.Queue.SetLastAvailIdx(65533));
        Assert.Equal(QueueError.None, fx.Queue.Start());
        fx.Driver.AvailIdx = (ushort)availIdx;
        Assert.Equal(broken ? PopResult.Broken : PopResult.Chain, fx.Queue.Pop(fx.Chain));
        Assert.Equal(broken ? QueueState.Broken : QueueState.Running, fx.Queue.State);
    }

    [Fact]
    public void Indexes_wrap_past_65535_without_losing_or_repeating_chains()
    {
        using var fx = new QueueFixture(size: 16);
        Assert.Equal(QueueError.None, fx.Queue.Stop());
        fx.Driver.AvailIdx = 65530;
        fx.Driver.UsedIdx = 65530;
        Assert.Equal(QueueError.None, fx.Queue.SetLastAvailIdx(65530));
        Assert.Equal(QueueError.None, fx.Queue.Start());
        Assert.Equal(65530, fx.Queue.NextUsedIdx);

        for (int i = 0; i < 40; i++)
        {
            ushort head = fx.AddSimpleChain((uint)(i + 1));
            ushort usedIdx = fx.Queue.NextUsedIdx;
            Assert.Equal(PopResult.Chain, fx.Queue.Pop(fx.Chain));
            Assert.Equal(head, fx.Chain.HeadIndex);
            Assert.Equal((uint)(i + 1), fx.Chain.ReadableLength);
            Assert.Equal(QueueError.None, fx.Queue.PushUsed(head, (uint)i));
            Assert.Equal(QueueError.None, fx.Queue.PublishUsed());
            Assert.Equal(((uint)head, (uint)i), fx.Driver.UsedElem(usedIdx));
            Assert.Equal(PopResult.Empty, fx.Queue.Pop(fx.Chain));
        }

        Assert.Equal(unchecked((ushort)(65530 + 40)), fx.Queue.LastAvailIdx);
        Assert.Equal(unchecked((ushort)(65530 + 40)), fx.Driver.UsedIdx);
        Assert.Equal(40ul, fx.Queue.Counters.ChainsPopped);
    }

    [Fact]
    public void Batch_of_chains_is_returned_with_one_publish()
    {
        using var fx = new QueueFixture(size: 16);
        var heads = new ushort[10];
        for (int i = 0; i < heads.Length; i++)
            heads[i] = fx.AddSimpleChain(8);
        for (int i = 0; i < heads.Length; i++)
        {
            Assert.Equal(PopResult.Chain, fx.Queue.Pop(fx.Chain));
            Assert.Equal(QueueError.None, fx.Queue.PushUsed(fx.Chain.HeadIndex, (uint)i));
        }

        Assert.Equal(0, fx.Driver.UsedIdx); // nothing visible before the publish
        Assert.Equal(QueueError.None, fx.Queue.PublishUsed());
        Assert.Equal(10, fx.Driver.UsedIdx);
        for (int i = 0; i < heads.Length; i++)
            Assert.Equal(((uint)heads[i], (uint)i), fx.Driver.UsedElem((ushort)i));
    }
}
