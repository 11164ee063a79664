using System;
using VsockNative.Memory;
using VsockNative.Wire;
using Xunit;

namespace VsockNative.Tests.Memory;

public class TranslateTests
{
    // Layout (host addresses are arithmetic only, never dereferenced):
    //   A [0x1000, 0x2000)  host 0x10_0000_1000
    //   B [0x2000, 0x3000)  host 0x20_0000_0000   GPA-adjacent to A, not host-adjacent
    //   C [0x3000, 0x3800)  host 0x30_0000_0000   GPA-adjacent to B
    //   gap [0x3800, 0x8000)
    //   D [0x8000, 0x9000)  host 0x40_0000_0000
    //   E [2^64 - 0x1001, 2^64 - 1) at the very top of the address space
    private static readonly nint HostA = unchecked((nint)0x10_0000_1000L), HostB = unchecked((nint)0x20_0000_0000L),
        HostC = unchecked((nint)0x30_0000_0000L), HostD = unchecked((nint)0x40_0000_0000L), HostE = unchecked((nint)0x50_0000_0000L);
    private const ulong TopGpa = ulong.MaxValue - 0x1000;

    private readonly GuestMemory memory = Build();
    private readonly IoVec[] segments = new IoVec[4];

    private static GuestMemory Build()
    {
        GuestRegion[] regions =
        {
            new(0x1000, 0x1000, HostA), new(0x2000, 0x1000, HostB), new(0x3000, 0x800, HostC),
            new(0x8000, 0x1000, HostD), new(TopGpa, 0x1000, HostE),
        };
        Assert.Equal(GuestMemoryError.None, GuestMemory.TryCreate(regions, out GuestMemory? memory));
        return memory!;
    }

    private TranslateError Translate(ulong gpa, ulong length, out int count) =>
        memory.Translate(gpa, length, segments, out count);

    [Fact]
    public void Range_inside_one_region_gives_one_segment()
    {
        Assert.Equal(TranslateError.None, Translate(0x1010, 0x20, out int count));
        Assert.Equal(1, count);
        Assert.Equal(HostA + 0x10, segments[0].Base);
        Assert.Equal((nuint)0x20, segments[0].Length);
    }

    [Fact]
    public void Range_ending_exactly_at_region_end_is_accepted()
    {
        Assert.Equal(TranslateError.None, Translate(0x8000, 0x1000, out int count));
        Assert.Equal(1, count);
        Assert.Equal(TranslateError.None, Translate(0x8FFF, 1, out count));
        Assert.Equal(HostD + 0xFFF, segments[0].Base);
    }

    [Fact]
    public void Range_one_byte_past_region_end_is_out_of_bounds()
    {
        Assert.Equal(TranslateError.OutOfBounds, Translate(0x8000, 0x1001, out int count));
        Assert.Equal(0, count);
        Assert.Equal(TranslateError.OutOfBounds, Translate(0x9000, 1, out _));
    }

    [Theory]
    [InlineData(0x0ul, 1ul)]      // below every region
    [InlineData(0xFFFul, 2ul)]    // starts one byte before the first region
    [InlineData(0x3800ul, 1ul)]   // first byte of the gap
    [InlineData(0x37FFul, 2ul)]   // last byte of C then into the gap
    [InlineData(0x7FFFul, 2ul)]   // last byte of the gap then into D
    [InlineData(0x1000ul, 0x7001ul)] // A, B, C, then through the gap into D
    public void Range_touching_a_gap_is_out_of_bounds(ulong gpa, ulong length) =>
        Assert.Equal(TranslateError.OutOfBounds, Translate(gpa, length, out _));

    [Fact]
    public void Range_crossing_adjacent_regions_is_split_per_region()
    {
        Assert.Equal(TranslateError.None, Translate(0x1FF0, 0x1020, out int count));
        Assert.Equal(3, count);
        Assert.Equal(new IoVec(HostA + 0xFF0, 0x10), segments[0]);
        Assert.Equal(new IoVec(HostB, 0x1000), segments[1]);
        Assert.Equal(new IoVec(HostC, 0x10), segments[2]);
        Assert.NotEqual(segments[0].Base + (nint)segments[0].Length, segments[1].Base);
    }

    [Fact]
    public void Split_needing_more_segments_than_supplied_is_too_many_segments()
    {
        Span<IoVec> two = new IoVec[2];
        Assert.Equal(TranslateError.TooManySegments, memory.Translate(0x1FF0, 0x1020, two, out int count));
        Assert.Equal(0, count);
        Assert.Equal(TranslateError.TooManySegments, memory.Translate(0x1FFF, 2, Span<IoVec>.Empty, out _));
    }

    [Fact]
    public void Out_of_bounds_is_reported_before_lack_of_segments()
    {
        Span<IoVec> one = new IoVec[1];
        Assert.Equal(TranslateError.OutOfBounds, memory.Translate(0x1FFF, 0x2000, one, out _));
    }

    [Fact]
    public void Zero_length_gives_no_segment_and_checks_nothing()
    {
        Assert.Equal(TranslateError.None, Translate(0x5000, 0, out int count));
        Assert.Equal(0, count);
        Assert.Equal(TranslateError.None, memory.Translate(ulong.MaxValue, 0, Span<IoVec>.Empty, out _));
    }

    [Theory]
    [InlineData(ulong.MaxValue, 1ul)]                    // end is 2^64
    [InlineData(ulong.MaxValue, ulong.MaxValue)]         // end far beyond 2^64
    [InlineData(0x1000ul, ulong.MaxValue)]               // starts in memory, length wraps
    [InlineData(TopGpa + 0x10, 0xFFFF_FFFF_FFFF_FF00ul)] // starts in the top region, wraps to low memory
    [InlineData(0x1FF0ul, 0xFFFF_FFFF_FFFF_E010ul)]      // would wrap and land at 0 exactly
    public void Range_whose_end_overflows_64_bits_is_address_wrap(ulong gpa, ulong length) =>
        Assert.Equal(TranslateError.AddressWrap, Translate(gpa, length, out _));

    [Fact]
    public void Top_of_address_space_translates_up_to_its_last_byte()
    {
        Assert.Equal(TranslateError.None, Translate(ulong.MaxValue - 2, 1, out int count));
        Assert.Equal(1, count);
        Assert.Equal(HostE + 0xFFE, segments[0].Base);
        Assert.Equal(TranslateError.None, Translate(TopGpa, 0x1000, out _));
        // 2^64 - 2 is the last byte any region can have (a region's end must fit in 64 bits).
        Assert.Equal(TranslateError.None, Translate(ulong.MaxValue - 1, 1, out _));
        Assert.Equal(HostE + 0xFFF, segments[0].Base);
        // One byte more would be the byte at 2^64 - 1, whose range ends at 2^64: not representable.
        Assert.Equal(TranslateError.AddressWrap, Translate(TopGpa, 0x1001, out _));
        Assert.Equal(TranslateError.OutOfBounds, Translate(TopGpa - 1, 2, out _));
    }

    [Fact]
    public void Contiguous_translation_accepts_one_region()
    {
        Assert.Equal(TranslateError.None, memory.TranslateContiguous(0x2100, 0x100, out nint host));
        Assert.Equal(HostB + 0x100, host);
    }

    [Fact]
    public void Contiguous_translation_rejects_a_range_crossing_regions()
    {
        Assert.Equal(TranslateError.NotContiguous, memory.TranslateContiguous(0x1FF0, 0x20, out nint host));
        Assert.Equal(0, host);
    }

    [Fact]
    public void Contiguous_translation_keeps_bounds_and_wrap_errors()
    {
        Assert.Equal(TranslateError.OutOfBounds, memory.TranslateContiguous(0x3700, 0x200, out _));
        Assert.Equal(TranslateError.AddressWrap, memory.TranslateContiguous(ulong.MaxValue - 1, 4, out _));
    }

    [Fact]
    public void Lookup_finds_every_region_of_a_large_table()
    {
        var regions = new GuestRegion[512];
        for (int i = 0; i < regions.Length; i++)
            regions[511 - i] = new GuestRegion((ulong)i * 0x3000, 0x1000, HostA + i * 0x10000);
        Assert.Equal(GuestMemoryError.None, GuestMemory.TryCreate(regions, out GuestMemory? big));
        for (int i = 0; i < 512; i++)
        {
            ulong gpa = (ulong)i * 0x3000;
            Assert.Equal(TranslateError.None, big!.Translate(gpa + 0xFFF, 1, segments, out _));
            Assert.Equal(HostA + i * 0x10000 + 0xFFF, segments[0].Base);
            Assert.Equal(TranslateError.OutOfBounds, big.Translate(gpa + 0x1000, 1, segments, out _));
        }
    }
}
