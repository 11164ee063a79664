using System;
using VsockNative.Tests.Memory;
using VsockNative.Virtqueue;

namespace VsockNative.Tests.Virtqueue;

/// <summary>One buffer of a chain the mock driver builds.</summary>
internal readonly record struct MockBuffer(ulong Gpa, uint Length, bool Writable = false);

/// <summary>
/// Plays the guest driver of one split queue, after rust-vmm's <c>MockSplitQueue</c>: lays out a
/// real descriptor table, available ring and used ring in <see cref="MockGuestMemory"/>, builds
/// direct and indirect chains, makes them available, and reads what the device returned.
/// Buffers and indirect tables come from a bump allocator over a heap range that wraps around,
/// so a heap spanning a region boundary yields buffers that straddle it.
/// </summary>
internal sealed class MockSplitQueue
{
    private readonly ulong heapStart;
    private readonly ulong heapEnd;
    private ulong heapNext;
    private ushort nextDesc;

    public MockSplitQueue(MockGuestMemory memory, ushort size, ulong descGpa, ulong availGpa, ulong usedGpa,
        ulong heapStart, ulong heapEnd)
    {
        Memory = memory;
        Size = size;
        DescGpa = descGpa;
        AvailGpa = availGpa;
        UsedGpa = usedGpa;
        this.heapStart = heapNext = heapStart;
        this.heapEnd = heapEnd;
    }

    public MockGuestMemory Memory { get; }

    public ushort Size { get; }

    public ulong DescGpa { get; }

    public ulong AvailGpa { get; }

    public ulong UsedGpa { get; }

    /// <summary>The driver's avail->idx (read from and written to guest memory).</summary>
    public ushort AvailIdx
    {
        get => Memory.ReadU16(AvailGpa + 2);
        set => Memory.WriteU16(AvailGpa + 2, value);
    }

    /// <summary>avail->flags (VIRTQ_AVAIL_F_NO_INTERRUPT).</summary>
    public ushort AvailFlags
    {
        get => Memory.ReadU16(AvailGpa);
        set => Memory.WriteU16(AvailGpa, value);
    }

    /// <summary>used_event, the trailing field of the available ring.</summary>
    public ushort UsedEvent
    {
        get => Memory.ReadU16(AvailGpa + 4 + 2ul * Size);
        set => Memory.WriteU16(AvailGpa + 4 + 2ul * Size, value);
    }

    /// <summary>used->idx as the device published it (writable to simulate reconnect state).</summary>
    public ushort UsedIdx
    {
        get => Memory.ReadU16(UsedGpa + 2);
        set => Memory.WriteU16(UsedGpa + 2, value);
    }

    /// <summary>used->flags (VIRTQ_USED_F_NO_NOTIFY).</summary>
    public ushort UsedFlags => Memory.ReadU16(UsedGpa);

    /// <summary>avail_event, the trailing field of the used ring.</summary>
    public ushort AvailEvent => Memory.ReadU16(UsedGpa + 4 + 8ul * Size);

    public QueueConfig Config(VirtqFeatures features = VirtqFeatures.None) =>
        new(Size, DescGpa, AvailGpa, UsedGpa, features);

    /// <summary>Used element number <paramref name="usedIdx"/> (free-running index, wrapped here).</summary>
    public (uint Id, uint Length) UsedElem(ushort usedIdx)
    {
        ulong elem = UsedGpa + 4 + 8ul * (ulong)(usedIdx % Size);
        return (Memory.ReadU32(elem), Memory.ReadU32(elem + 4));
    }

    /// <summary>Writes <c>struct virtq_desc</c> number <paramref name="index"/> of a table at <paramref name="tableGpa"/>.</summary>
    public void WriteDescAt(ulong tableGpa, int index, ulong addr, uint len, ushort flags, ushort next)
    {
        ulong gpa = tableGpa + 16ul * (ulong)index;
        Memory.WriteU64(gpa, addr);
        Memory.WriteU32(gpa + 8, len);
        Memory.WriteU16(gpa + 12, flags);
        Memory.WriteU16(gpa + 14, next);
    }

    /// <summary>Writes descriptor <paramref name="index"/> of the queue's own table.</summary>
    public void WriteDesc(int index, ulong addr, uint len, ushort flags, ushort next = 0) =>
        WriteDescAt(DescGpa, index, addr, len, flags, next);

    /// <summary>Puts <paramref name="head"/> in the next available slot, then bumps avail->idx (entry before index).</summary>
    public void MakeAvailable(ushort head)
    {
        ushort idx = AvailIdx;
        Memory.WriteU16(AvailGpa + 4 + 2ul * (ulong)(idx % Size), head);
        AvailIdx = (ushort)(idx + 1);
    }

    /// <summary>Bump-allocates <paramref name="length"/> bytes of heap (wrapping to the start when full).</summary>
    public ulong Allocate(ulong length, ulong alignment = 1)
    {
        ulong gpa = AlignUp(heapNext, alignment);
        if (gpa + length > heapEnd)
            gpa = AlignUp(heapStart, alignment);
        if (gpa + length > heapEnd)
            throw new InvalidOperationException("mock heap too small");
        heapNext = gpa + length;
        return gpa;
    }

    /// <summary>
    /// Like <see cref="Allocate"/>, but the block never crosses a region boundary: indirect tables
    /// must lie in one region (as a driver's kmalloc'ed table lies in one host mapping).
    /// </summary>
    public unsafe ulong AllocateInOneRegion(ulong length, ulong alignment)
    {
        while (true)
        {
            ulong gpa = Allocate(length, alignment);
            if (Memory.HostOf(gpa + length - 1) == Memory.HostOf(gpa) + (length - 1))
                return gpa;
        }
    }

    /// <summary>Restarts the heap at <paramref name="gpa"/> (to place the next buffer precisely).</summary>
    public void SeekHeap(ulong gpa) => heapNext = gpa;

    /// <summary>Allocates a buffer, copies <paramref name="data"/> into it and describes it.</summary>
    public MockBuffer AddData(ReadOnlySpan<byte> data)
    {
        ulong gpa = Allocate((ulong)data.Length);
        Memory.Write(gpa, data);
        return new MockBuffer(gpa, (uint)data.Length);
    }

    /// <summary>Allocates a device-writable buffer of <paramref name="length"/> bytes.</summary>
    public MockBuffer AddWritable(uint length) => new(Allocate(length), length, true);

    /// <summary>
    /// Builds a chain over <paramref name="buffers"/> (direct: consecutive descriptors of the
    /// table, round robin; indirect: a table on the heap referenced by one descriptor) and makes
    /// it available. Returns the head index.
    /// </summary>
    public ushort AddChain(ReadOnlySpan<MockBuffer> buffers, bool indirect = false)
    {
        ushort head = nextDesc;
        if (indirect)
        {
            ulong table = AllocateInOneRegion(16ul * (ulong)buffers.Length, 16);
            WriteLinked(table, 0, buffers);
            WriteDesc(head, table, 16u * (uint)buffers.Length, VirtqDescFlags.Indirect);
            nextDesc = (ushort)((head + 1) % Size);
        }
        else
        {
            WriteLinked(DescGpa, head, buffers);
            nextDesc = (ushort)((head + buffers.Length) % Size);
        }

        MakeAvailable(head);
        return head;
    }

    /// <summary>Writes buffers as descriptors first, first+1, ... (mod table size for the main table), linked by NEXT.</summary>
    private void WriteLinked(ulong tableGpa, int first, ReadOnlySpan<MockBuffer> buffers)
    {
        int wrap = tableGpa == DescGpa ? Size : int.MaxValue;
        for (int i = 0; i < buffers.Length; i++)
        {
            int index = (first + i) % wrap;
            bool last = i == buffers.Length - 1;
            ushort flags = (ushort)((buffers[i].Writable ? VirtqDescFlags.Write : 0) | (last ? 0 : VirtqDescFlags.Next));
            WriteDescAt(tableGpa, index, buffers[i].Gpa, buffers[i].Length, flags, (ushort)((first + i + 1) % wrap));
        }
    }

    private static ulong AlignUp(ulong value, ulong alignment) => (value + alignment - 1) / alignment * alignment;
}
