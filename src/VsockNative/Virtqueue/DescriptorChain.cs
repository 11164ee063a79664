using System;
using VsockNative.Wire;

namespace VsockNative.Virtqueue;

/// <summary>
/// The host view of one descriptor chain: its head index, its device-readable segments followed
/// by its device-writable segments (already translated, each inside one guest region), and their
/// total lengths. Allocated once by the caller with fixed capacities and refilled by every
/// <see cref="SplitQueue.Pop"/>, so popping allocates nothing.
/// </summary>
public sealed class DescriptorChain
{
    private readonly IoVec[] readable;
    private readonly IoVec[] writable;
    private bool sawWritable;

    /// <summary>Creates a chain buffer holding up to <paramref name="maxSegments"/> segments of each kind.</summary>
    /// <param name="maxSegments">Capacity of each list; at least 1.</param>
    public DescriptorChain(int maxSegments)
        : this(maxSegments, maxSegments)
    {
    }

    /// <summary>Creates a chain buffer with separate capacities.</summary>
    /// <param name="maxReadableSegments">Capacity of the readable list; at least 1.</param>
    /// <param name="maxWritableSegments">Capacity of the writable list; at least 1.</param>
    public DescriptorChain(int maxReadableSegments, int maxWritableSegments)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxReadableSegments, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxWritableSegments, 1);
        readable = new IoVec[maxReadableSegments];
        writable = new IoVec[maxWritableSegments];
    }

    /// <summary>Head descriptor index, the id to put in the used ring.</summary>
    public ushort HeadIndex { get; private set; }

    /// <summary><see cref="ChainError.None"/>, or why the chain was rejected.</summary>
    public ChainError Error { get; private set; }

    /// <summary>Device-readable segments, in chain order (empty for a bad chain).</summary>
    public ReadOnlySpan<IoVec> Readable => new(readable, 0, ReadableCount);

    /// <summary>Device-writable segments, in chain order (empty for a bad chain).</summary>
    public ReadOnlySpan<IoVec> Writable => new(writable, 0, WritableCount);

    /// <summary>Number of readable segments.</summary>
    public int ReadableCount { get; private set; }

    /// <summary>Number of writable segments.</summary>
    public int WritableCount { get; private set; }

    /// <summary>Total bytes of the readable segments.</summary>
    public uint ReadableLength { get; private set; }

    /// <summary>Total bytes of the writable segments.</summary>
    public uint WritableLength { get; private set; }

    /// <summary>Descriptors visited, including one that points to an indirect table.</summary>
    public int DescriptorCount { get; private set; }

    /// <summary>Whether the chain went through an indirect table.</summary>
    public bool UsedIndirectTable { get; private set; }

    /// <summary>Largest number of readable segments this buffer can hold.</summary>
    public int ReadableCapacity => readable.Length;

    /// <summary>Largest number of writable segments this buffer can hold.</summary>
    public int WritableCapacity => writable.Length;

    internal bool SawWritable => sawWritable;

    internal ulong TotalLength => (ulong)ReadableLength + WritableLength;

    internal Span<IoVec> SpareReadable => readable.AsSpan(ReadableCount);

    internal Span<IoVec> SpareWritable => writable.AsSpan(WritableCount);

    internal void Begin(ushort head)
    {
        HeadIndex = head;
        Error = ChainError.None;
        ReadableCount = WritableCount = DescriptorCount = 0;
        ReadableLength = WritableLength = 0;
        sawWritable = UsedIndirectTable = false;
    }

    internal void CountDescriptor() => DescriptorCount++;

    internal void MarkIndirect() => UsedIndirectTable = true;

    internal void AddReadable(int segments, uint length)
    {
        ReadableCount += segments;
        ReadableLength += length;
    }

    internal void AddWritable(int segments, uint length)
    {
        sawWritable = true;
        WritableCount += segments;
        WritableLength += length;
    }

    /// <summary>Marks the chain bad and drops every segment, so no partial chain can be used.</summary>
    internal ChainError Fail(ChainError error)
    {
        Error = error;
        ReadableCount = WritableCount = 0;
        ReadableLength = WritableLength = 0;
        return error;
    }
}
