using System;
using VsockNative.Wire;

namespace VsockNative.Memory;

/// <summary>
/// The guest-physical memory map: an immutable, validated, sorted table of
/// <see cref="GuestRegion"/>s, and the one translation function every guest address goes through.
/// </summary>
/// <remarks>
/// <para>Built only by <see cref="TryCreate"/>, which either returns a complete table or an error
/// (nothing half-built). Once built, the table never changes, so it can be read without locks.</para>
/// <para>Replacing the map (vhost-user <c>SET_MEM_TABLE</c>, memory hot-plug) means building a new
/// instance. Virtqueues hold a reference to the instance they were configured with and cache host
/// pointers into it, so the device swaps the table only while its queues are stopped and hands the
/// new one to each queue (<c>SplitQueue.ReplaceMemory</c>) before starting them again. The host
/// mappings themselves belong to the VMM and must outlive every instance that refers to them.</para>
/// </remarks>
public sealed class GuestMemory
{
    /// <summary>Largest number of regions a table may hold.</summary>
    public const int MaxRegions = 512;

    private readonly GuestRegion[] regions;

    private GuestMemory(GuestRegion[] sortedRegions) => regions = sortedRegions;

    /// <summary>The regions, sorted by guest-physical address.</summary>
    public ReadOnlySpan<GuestRegion> Regions => regions;

    /// <summary>
    /// Validates <paramref name="regions"/> (1..<see cref="MaxRegions"/> entries, non-empty,
    /// non-null host address, no wrap of either range, no guest-physical overlap) and builds a
    /// sorted table. On error <paramref name="memory"/> is null.
    /// </summary>
    /// <param name="regions">Regions in any order; the span is copied.</param>
    /// <param name="memory">The new table, or null when the result is not <see cref="GuestMemoryError.None"/>.</param>
    /// <returns><see cref="GuestMemoryError.None"/> or the first problem found.</returns>
    public static GuestMemoryError TryCreate(ReadOnlySpan<GuestRegion> regions, out GuestMemory? memory)
    {
        memory = null;
        if (regions.IsEmpty)
            return GuestMemoryError.NoRegions;
        if (regions.Length > MaxRegions)
            return GuestMemoryError.TooManyRegions;
        foreach (GuestRegion region in regions)
        {
            GuestMemoryError error = ValidateRegion(region);
            if (error != GuestMemoryError.None)
                return error;
        }

        GuestRegion[] sorted = SortByGuestAddress(regions);
        for (int i = 1; i < sorted.Length; i++)
        {
            if (sorted[i].GuestAddress < sorted[i - 1].GuestEnd)
                return GuestMemoryError.Overlap;
        }

        memory = new GuestMemory(sorted);
        return GuestMemoryError.None;
    }

    /// <summary>
    /// Translates the guest range [<paramref name="address"/>, <paramref name="address"/> +
    /// <paramref name="length"/>) into host segments, one per region it touches, in order.
    /// This is the single entry point from guest addresses to host memory.
    /// </summary>
    /// <param name="address">Guest-physical address of the first byte.</param>
    /// <param name="length">Length in bytes. Zero succeeds with no segment and checks nothing.</param>
    /// <param name="segments">Receives the host segments; its content past the returned count, and
    /// all of it on error, is unspecified.</param>
    /// <param name="segmentCount">Number of segments written; 0 on error.</param>
    /// <returns>
    /// <see cref="TranslateError.None"/>; <see cref="TranslateError.AddressWrap"/> when the end does
    /// not fit in 64 bits; <see cref="TranslateError.OutOfBounds"/> when any byte is outside every
    /// region (checked before capacity); <see cref="TranslateError.TooManySegments"/> when the range
    /// is in memory but needs more segments than <paramref name="segments"/> holds.
    /// </returns>
    public TranslateError Translate(ulong address, ulong length, Span<IoVec> segments, out int segmentCount)
    {
        segmentCount = 0;
        if (length == 0)
            return TranslateError.None;
        if (length > ulong.MaxValue - address)
            return TranslateError.AddressWrap;
        int index = FindRegion(address);
        if (index < 0)
            return TranslateError.OutOfBounds;

        ulong end = address + length;
        ulong cursor = address;
        int count = 0;
        while (true)
        {
            GuestRegion region = regions[index];
            ulong chunkEnd = Math.Min(region.GuestEnd, end);
            if (count < segments.Length)
                segments[count] = new IoVec(HostAddressOf(region, cursor), (nuint)(chunkEnd - cursor));
            count++;
            cursor = chunkEnd;
            if (cursor == end)
                break;
            index++;
            if (index == regions.Length || regions[index].GuestAddress != cursor)
                return TranslateError.OutOfBounds;
        }

        if (count > segments.Length)
            return TranslateError.TooManySegments;
        segmentCount = count;
        return TranslateError.None;
    }

    /// <summary>
    /// Translates a range that must lie inside a single region (ring structures, indirect tables):
    /// the same checks as <see cref="Translate"/>, plus <see cref="TranslateError.NotContiguous"/>
    /// when the range crosses a region boundary.
    /// </summary>
    /// <param name="address">Guest-physical address of the first byte.</param>
    /// <param name="length">Length in bytes; zero succeeds with a null host address.</param>
    /// <param name="hostAddress">Host address of the first byte; 0 on error.</param>
    /// <returns><see cref="TranslateError.None"/> or why the range has no single host mapping.</returns>
    public TranslateError TranslateContiguous(ulong address, ulong length, out nint hostAddress)
    {
        IoVec segment = default;
        TranslateError error = Translate(address, length, new Span<IoVec>(ref segment), out int count);
        hostAddress = count == 1 ? segment.Base : 0;
        return error == TranslateError.TooManySegments ? TranslateError.NotContiguous : error;
    }

    /// <summary>Index of the region containing <paramref name="address"/>, or -1 (binary search).</summary>
    private int FindRegion(ulong address)
    {
        int low = 0;
        int high = regions.Length - 1;
        while (low <= high)
        {
            int middle = (int)((uint)(low + high) >> 1);
            if (regions[middle].GuestAddress <= address)
                low = middle + 1;
            else
                high = middle - 1;
        }

        // high is now the last region starting at or before address.
        return high >= 0 && address < regions[high].GuestEnd ? high : -1;
    }

    private static nint HostAddressOf(GuestRegion region, ulong guestAddress) =>
        (nint)((nuint)region.HostAddress + (nuint)(guestAddress - region.GuestAddress));

    private static GuestMemoryError ValidateRegion(GuestRegion region)
    {
        if (region.Size == 0)
            return GuestMemoryError.EmptyRegion;
        if (region.HostAddress == 0)
            return GuestMemoryError.NullHostAddress;
        if (region.Size > ulong.MaxValue - region.GuestAddress)
            return GuestMemoryError.GuestRangeWraps;
        if (region.Size > (ulong)nuint.MaxValue - (ulong)(nuint)region.HostAddress)
            return GuestMemoryError.HostRangeWraps;
        return GuestMemoryError.None;
    }

    private static GuestRegion[] SortByGuestAddress(ReadOnlySpan<GuestRegion> regions)
    {
        GuestRegion[] sorted = regions.ToArray();
        ulong[] keys = new ulong[sorted.Length];
        for (int i = 0; i < sorted.Length; i++)
            keys[i] = sorted[i].GuestAddress;
        Array.Sort(keys, sorted);
        return sorted;
    }
}
