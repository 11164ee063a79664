using System;
using VsockNative.Memory;
using Xunit;

namespace VsockNative.Tests.Memory;

public class GuestMemoryFactoryTests
{
    // Host addresses here are never dereferenced: building and translating only does arithmetic.
    private static readonly nint Host = unchecked((nint)0x10_0000_0000L);

    private static GuestMemoryError Create(out GuestMemory? memory, params GuestRegion[] regions) =>
        GuestMemory.TryCreate(regions, out memory);

    [Fact]
    public void Valid_table_is_sorted_by_guest_address()
    {
        Assert.Equal(GuestMemoryError.None, Create(out GuestMemory? memory,
            new GuestRegion(0x3000, 0x1000, Host + 0x3000),
            new GuestRegion(0x0000, 0x1000, Host),
            new GuestRegion(0x1000, 0x1000, Host + 0x10_0000)));
        Assert.NotNull(memory);
        Assert.Equal(new ulong[] { 0x0000, 0x1000, 0x3000 },
            new[] { memory!.Regions[0].GuestAddress, memory.Regions[1].GuestAddress, memory.Regions[2].GuestAddress });
    }

    [Fact]
    public void Empty_table_is_rejected()
    {
        Assert.Equal(GuestMemoryError.NoRegions, Create(out GuestMemory? memory));
        Assert.Null(memory);
    }

    [Fact]
    public void Table_of_512_regions_is_accepted_and_513_rejected()
    {
        var regions = new GuestRegion[513];
        for (int i = 0; i < regions.Length; i++)
            regions[i] = new GuestRegion((ulong)i * 0x2000, 0x1000, Host + i * 0x2000);
        Assert.Equal(GuestMemoryError.None, GuestMemory.TryCreate(regions.AsSpan(0, 512), out GuestMemory? ok));
        Assert.Equal(512, ok!.Regions.Length);
        Assert.Equal(GuestMemoryError.TooManyRegions, GuestMemory.TryCreate(regions, out GuestMemory? memory));
        Assert.Null(memory);
    }

    [Fact]
    public void Zero_size_region_is_rejected() =>
        Assert.Equal(GuestMemoryError.EmptyRegion, Create(out _, new GuestRegion(0x1000, 0, Host)));

    [Fact]
    public void Null_host_address_is_rejected() =>
        Assert.Equal(GuestMemoryError.NullHostAddress, Create(out _, new GuestRegion(0x1000, 0x1000, 0)));

    [Theory]
    [InlineData(ulong.MaxValue, 1ul)]              // last byte would be 2^64: wraps
    [InlineData(0xFFFF_FFFF_FFFF_F000, 0x1000ul)]  // ends exactly at 2^64: the end does not fit
    [InlineData(0x8000_0000_0000_0000, 0x8000_0000_0000_0001ul)]
    public void Guest_range_that_wraps_is_rejected(ulong gpa, ulong size) =>
        Assert.Equal(GuestMemoryError.GuestRangeWraps, Create(out _, new GuestRegion(gpa, size, Host)));

    [Fact]
    public void Region_ending_one_byte_below_2_pow_64_is_accepted() =>
        Assert.Equal(GuestMemoryError.None, Create(out _, new GuestRegion(0xFFFF_FFFF_FFFF_F000, 0xFFF, Host)));

    [Fact]
    public void Host_range_that_wraps_is_rejected() =>
        Assert.Equal(GuestMemoryError.HostRangeWraps,
            Create(out _, new GuestRegion(0x1000, 0x2000, (nint)(nuint.MaxValue - 0xFFF))));

    [Theory]
    [InlineData(0x1000ul, 0x1000ul, 0x1000ul, 0x1000ul)] // identical
    [InlineData(0x1000ul, 0x1000ul, 0x1FFFul, 0x10ul)]   // second starts on the first's last byte
    [InlineData(0x2000ul, 0x1000ul, 0x1000ul, 0x1001ul)] // first (after sorting) ends one byte into the second
    [InlineData(0x1000ul, 0x4000ul, 0x2000ul, 0x10ul)]   // second entirely inside the first
    public void Overlapping_regions_are_rejected(ulong gpaA, ulong sizeA, ulong gpaB, ulong sizeB)
    {
        Assert.Equal(GuestMemoryError.Overlap, Create(out GuestMemory? memory,
            new GuestRegion(gpaA, sizeA, Host), new GuestRegion(gpaB, sizeB, Host + 0x100_0000)));
        Assert.Null(memory);
    }

    [Fact]
    public void Adjacent_regions_do_not_overlap() =>
        Assert.Equal(GuestMemoryError.None, Create(out _,
            new GuestRegion(0x1000, 0x1000, Host), new GuestRegion(0x2000, 0x1000, Host + 0x100_0000)));

    [Fact]
    public void Input_span_is_copied()
    {
        var regions = new[] { new GuestRegion(0x1000, 0x1000, Host) };
        Assert.Equal(GuestMemoryError.None, GuestMemory.TryCreate(regions, out GuestMemory? memory));
        regions[0] = new GuestRegion(0x9000, 0x1000, Host);
        Assert.Equal(0x1000ul, memory!.Regions[0].GuestAddress);
    }
}
