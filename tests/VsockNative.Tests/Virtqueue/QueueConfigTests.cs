using VsockNative.Memory;
using VsockNative.Tests.Memory;
using VsockNative.Virtqueue;
using Xunit;

namespace VsockNative.Tests.Virtqueue;

public class QueueConfigTests
{
    private static QueueConfigError Configure(GuestMemory memory, uint size, ulong desc, ulong avail, ulong used,
        VirtqFeatures features = VirtqFeatures.None) =>
        new SplitQueue().Configure(memory, new QueueConfig(size, desc, avail, used, features));

    [Theory]
    [InlineData(0u, QueueConfigError.SizeZero)]
    [InlineData(3u, QueueConfigError.SizeNotPowerOfTwo)]
    [InlineData(96u, QueueConfigError.SizeNotPowerOfTwo)]
    [InlineData(32767u, QueueConfigError.SizeNotPowerOfTwo)]
    [InlineData(65536u, QueueConfigError.SizeTooLarge)]
    [InlineData(0x8000_0000u, QueueConfigError.SizeTooLarge)]
    [InlineData(1u, QueueConfigError.None)]
    [InlineData(2u, QueueConfigError.None)]
    [InlineData(256u, QueueConfigError.None)]
    [InlineData(32768u, QueueConfigError.None)]
    public void Size_must_be_a_power_of_two_up_to_32768(uint size, QueueConfigError expected)
    {
        // 1 MiB: room for the largest queue (desc 512 KiB, avail 64 KiB + 6, used 256 KiB + 6).
        using var memory = new MockGuestMemory(new MockRegion(0, 0x10_0000));
        Assert.Equal(expected, Configure(memory.Memory, size, 0, 0x8_0000, 0x9_0000));
    }

    [Theory]
    [InlineData(0x1008ul, 0x8000ul, 0x9000ul, QueueConfigError.DescTableMisaligned)] // desc 8-aligned, needs 16
    [InlineData(0x1001ul, 0x8000ul, 0x9000ul, QueueConfigError.DescTableMisaligned)]
    [InlineData(0x1000ul, 0x8001ul, 0x9000ul, QueueConfigError.AvailRingMisaligned)] // avail odd
    [InlineData(0x1000ul, 0x8000ul, 0x9002ul, QueueConfigError.UsedRingMisaligned)]  // used 2-aligned, needs 4
    [InlineData(0x1000ul, 0x8002ul, 0x9004ul, QueueConfigError.None)]                // minimal alignments
    public void Ring_addresses_must_be_aligned(ulong desc, ulong avail, ulong used, QueueConfigError expected)
    {
        using var fx = new QueueFixture();
        Assert.Equal(expected, Configure(fx.Memory.Memory, 256, desc, avail, used));
    }

    [Fact]
    public void Host_mapping_must_be_aligned_too()
    {
        // Host addresses are only computed, never dereferenced: Configure does not touch the rings.
        // [0, 0x2000) is host-aligned; [0x2000, 0x4000) is mapped at a host address 2 bytes off.
        GuestMemoryError created = GuestMemory.TryCreate(new[]
        {
            new GuestRegion(0, 0x2000, unchecked((nint)0x10_0000_0000L)), new GuestRegion(0x2000, 0x2000, unchecked((nint)0x20_0000_0002L)),
        }, out GuestMemory? memory);
        Assert.Equal(GuestMemoryError.None, created);
        Assert.Equal(QueueConfigError.None, Configure(memory!, 16, 0x0, 0x1000, 0x1800));
        Assert.Equal(QueueConfigError.DescTableMisaligned, Configure(memory!, 16, 0x2000, 0x1000, 0x1800));
        Assert.Equal(QueueConfigError.None, Configure(memory!, 16, 0x0, 0x2000, 0x1800)); // 2-aligned is enough for avail
        Assert.Equal(QueueConfigError.UsedRingMisaligned, Configure(memory!, 16, 0x0, 0x1000, 0x2000));
    }

    [Theory]
    // desc table in the gap
    [InlineData(0x30000ul, 0x8000ul, 0x9000ul, QueueConfigError.DescTableNotInMemory)]
    // desc table (4 KiB) straddles the adjacent regions R1/R2: in memory, but not one region
    [InlineData(0x1F800ul, 0x8000ul, 0x9000ul, QueueConfigError.DescTableNotInMemory)]
    // avail ring (518 bytes) ends 2 bytes past R3: only the trailing used_event is outside
    [InlineData(0x1000ul, 0x41000ul - 518 + 2, 0x9000ul, QueueConfigError.AvailRingNotInMemory)]
    // used ring (2054 bytes) ends 2 bytes past R3: only the trailing avail_event is outside
    [InlineData(0x1000ul, 0x8000ul, 0x41000ul - 2054 + 2, QueueConfigError.UsedRingNotInMemory)]
    // used ring near 2^64: address + size wraps
    [InlineData(0x1000ul, 0x8000ul, 0xFFFF_FFFF_FFFF_FF00ul, QueueConfigError.UsedRingNotInMemory)]
    // avail ring ending exactly at the end of R3, used ring 2 bytes before it (4-alignment): fine
    [InlineData(0x1000ul, 0x41000ul - 518, 0x9000ul, QueueConfigError.None)]
    [InlineData(0x1000ul, 0x8000ul, 0x41000ul - 2056, QueueConfigError.None)]
    public void Each_ring_must_lie_in_one_region_with_its_event_field(ulong desc, ulong avail, ulong used, QueueConfigError expected)
    {
        using var fx = new QueueFixture();
        Assert.Equal(expected, Configure(fx.Memory.Memory, 256, desc, avail, used));
    }

    [Fact]
    public void Rejected_configuration_leaves_the_queue_unchanged()
    {
        using var fx = new QueueFixture();
        ushort first = fx.AddSimpleChain();
        ushort second = fx.AddSimpleChain();
        fx.PopGood(first);
        Assert.Equal(QueueError.None, fx.Queue.Stop());
        QueueConfig before = fx.Queue.Config;

        var bad = new QueueConfig(256, 0x1000, 0x8000, QueueFixture.Gap, VirtqFeatures.EventIdx);
        Assert.Equal(QueueConfigError.UsedRingNotInMemory, fx.Queue.Configure(fx.Memory.Memory, bad));
        Assert.Equal(QueueConfigError.SizeNotPowerOfTwo, fx.Queue.Configure(fx.Memory.Memory, new QueueConfig(100, 0x1000, 0x8000, 0x9000)));

        Assert.Equal(before, fx.Queue.Config);
        Assert.Equal(QueueState.Stopped, fx.Queue.State);
        Assert.Equal(1, fx.Queue.LastAvailIdx);
        Assert.Equal(QueueError.None, fx.Queue.Start());
        fx.PopGood(second);
    }

    [Fact]
    public void Unknown_feature_bits_are_dropped()
    {
        var config = new QueueConfig(8, 0, 0x100, 0x200, (VirtqFeatures)ulong.MaxValue);
        Assert.Equal(VirtqFeatures.IndirectDesc | VirtqFeatures.EventIdx, config.Features);
    }

    [Fact]
    public void Layout_sizes_include_the_event_fields()
    {
        Assert.Equal(16ul * 256, RingLayout.DescTableSize(256));
        Assert.Equal(6ul + 2 * 256, RingLayout.AvailRingSize(256));
        Assert.Equal(6ul + 8 * 256, RingLayout.UsedRingSize(256));
        Assert.Equal(4 + 2 * 256, RingLayout.UsedEventOffset(256));
        Assert.Equal(4 + 8 * 256, RingLayout.AvailEventOffset(256));
    }
}
