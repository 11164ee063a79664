using System;
using System.Collections.Generic;

namespace VsockNative.Fuzz;

/// <summary>One writable range of a chain, as the guest described it.</summary>
internal readonly record struct WritableRange(ulong Gpa, ulong Length);

/// <summary>
/// The guest driver's side of one split queue, and the harness's book of what it made available:
/// how many times each head is outstanding, and every writable range any of its chains ever
/// described while outstanding (a chain's descriptors may change under the device: the union is
/// what the device may write). Used entries are checked against this book.
/// </summary>
internal sealed class GuestQueue
{
    public const ushort MaxSize = 128;
    private const ushort Next = 1, Write = 2, Indirect = 4;
    private readonly GuestRam _ram;
    private readonly int[] _outstanding;
    private readonly List<WritableRange>[] _writable;
    private readonly ulong[] _writableBytes;
    private ushort _availIdx;
    private int _beyond;  // published slots naming a head beyond the queue (pending until the ring breaks)
    private ushort _usedSeen;

    public GuestQueue(GuestRam ram, int index, ushort size, bool eventIdx)
    {
        _ram = ram;
        Index = index;
        Size = size;
        EventIdx = eventIdx;
        DescGpa = GuestRam.RingGpa + 0x1000ul * (ulong)index;
        AvailGpa = DescGpa + 0x800;
        UsedGpa = DescGpa + 0xB00;
        int slots = Math.Max(1, (int)size);
        _outstanding = new int[slots];
        _writable = new List<WritableRange>[slots];
        _writableBytes = new ulong[slots];
        for (int i = 0; i < slots; i++) _writable[i] = new List<WritableRange>();
        // a driver zeroes its rings before it hands them over; the rest of the block keeps its canaries
        ram.Span(DescGpa, 16 * MaxSize).Clear();
        ram.Span(AvailGpa, 6 + 2 * MaxSize).Clear();
        ram.Span(UsedGpa, 6 + 8 * MaxSize).Clear();
    }

    public int Index { get; }
    public ushort Size { get; }
    public bool EventIdx { get; }
    public ulong DescGpa { get; }
    public ulong AvailGpa { get; }
    public ulong UsedGpa { get; }
    /// <summary>Set up on the device: its used ring is the device's to write.</summary>
    public bool Live { get; set; }
    /// <summary>The guest broke the avail ring (jumped the index, rewrote a pending slot): which heads
    /// are outstanding is no longer known exactly, so ids are checked against the table only.</summary>
    public bool Chaos { get; private set; }
    public int Outstanding { get; private set; }
    /// <summary>The device once published more used entries at a time than the ring has slots (only a
    /// guest that made more chains available than the ring holds lets it): the guest read some slots
    /// twice and missed the entries they held first.</summary>
    public bool Overrun { get; private set; }
    public ushort UsedSeen => _usedSeen;

    public bool InUsedRing(ulong gpa) => Live && gpa >= UsedGpa && gpa < UsedGpa + 6 + 8ul * Size;

    public void WriteDesc(ushort index, ulong addr, uint len, ushort flags, ushort next) => WriteDescAt(DescGpa, index, addr, len, flags, next);

    public void WriteDescAt(ulong table, int index, ulong addr, uint len, ushort flags, ushort next)
    {
        ulong gpa = table + 16ul * (ulong)index;
        if (!_ram.Contains(gpa, 16)) return;
        _ram.W64(gpa, addr);
        _ram.W32(gpa + 8, len);
        _ram.W16(gpa + 12, flags);
        _ram.W16(gpa + 14, next);
    }

    /// <summary>Puts <paramref name="head"/> in the next slot and bumps avail->idx (entry before index).</summary>
    public void Publish(ushort head)
    {
        if (Size == 0) return;
        _ram.W16(AvailGpa + 4 + 2ul * (ulong)(_availIdx % Size), head);
        Bump(1);
    }

    /// <summary>avail->idx moves by <paramref name="count"/> over whatever the slots hold.</summary>
    public void Bump(int count)
    {
        if (Size == 0) return;
        // a slot naming a head beyond the queue is not an outstanding chain, but it holds its place in the
        // ring until the device pops it (and the device breaks the ring when it does): it counts here
        if (count > Size - Outstanding - _beyond) Chaos = true;
        for (int i = 0; i < count && i < Size; i++)
        {
            ushort head = _ram.U16(AvailGpa + 4 + 2ul * (ulong)((_availIdx + i) % Size));
            if (head < Size) { _outstanding[head]++; Outstanding++; Remember(head); }
            else _beyond++;
        }

        _availIdx = (ushort)(_availIdx + count);
        _ram.W16(AvailGpa + 2, _availIdx);
    }

    /// <summary>The guest writes a slot raw: a pending slot rewritten makes the book unreliable.</summary>
    public void WriteSlot(int slot, ushort head)
    {
        if (Size == 0) return;
        // a slot published before may still be pending (even one naming a head beyond the queue, which
        // the book does not count): rewriting it changes what the device pops
        if (_availIdx != 0) Chaos = true;
        _ram.W16(AvailGpa + 4 + 2ul * (ulong)(slot % Size), head);
    }

    public void SetAvailIdx(ushort idx)
    {
        Chaos = true;
        _availIdx = idx;
        _ram.W16(AvailGpa + 2, idx);
    }

    public void SetAvailFlags(ushort flags) => _ram.W16(AvailGpa, flags);

    public void SetUsedEvent(ushort value)
    {
        if (Size > 0) _ram.W16(AvailGpa + 4 + 2ul * Size, value);
    }

    /// <summary>Re-walks every outstanding chain (the guest may have rewritten descriptors since).</summary>
    public void RememberOutstanding()
    {
        for (int h = 0; h < _outstanding.Length; h++)
            if (_outstanding[h] > 0 || Chaos) Remember((ushort)h);
    }

    /// <summary>May the device write <paramref name="gpa"/>: a writable range of a chain it holds.</summary>
    public bool MayWrite(ulong gpa) => ChainRangeAt(gpa) is not null;

    /// <summary>The range that lets the device write <paramref name="gpa"/>: this queue's used ring, or a
    /// writable range of a chain it holds; null when there is none.</summary>
    public WritableRange? WritableAt(ulong gpa) => InUsedRing(gpa) ? new WritableRange(UsedGpa, 6 + 8ul * Size) : ChainRangeAt(gpa);

    private WritableRange? ChainRangeAt(ulong gpa)
    {
        for (int h = 0; h < _outstanding.Length; h++)
        {
            if (_outstanding[h] == 0 && !Chaos) continue;
            foreach (var r in _writable[h])
                if (gpa >= r.Gpa && gpa - r.Gpa < r.Length) return r;
        }

        return null;
    }

    /// <summary>The used entries the device added since the last call; each is checked and consumed.</summary>
    public IEnumerable<(ushort Id, uint Len, List<WritableRange> Ranges)> TakeUsed(Action<string> fail)
    {
        if (!Live || Size == 0) yield break;
        ushort usedIdx = _ram.U16(UsedGpa + 2);
        int fresh = (ushort)(usedIdx - _usedSeen);
        if (fresh > 0 && Environment.GetEnvironmentVariable("VSN_FUZZ_VERBOSE") == "1")
            for (int i = 0; i < fresh && i < Size; i++)
                Console.Error.WriteLine($"queue {Index} used[{(_usedSeen + i) % Size}] = id {_ram.U32(UsedGpa + 4 + 8ul * (ulong)((_usedSeen + i) % Size))}, outstanding {Outstanding}, avail idx {_availIdx}");
        // (a guest that made more than a ring's worth available at once may see that many come back)
        // more entries than slots in one look: the later overwrote the earlier before the guest read them
        if (fresh > Size) Overrun = true;
        if (!Chaos && fresh > Size) fail($"queue {Index}: used->idx jumped from {_usedSeen} to {usedIdx} (queue size {Size})");
        if (!Chaos && fresh > Outstanding) fail($"queue {Index}: {fresh} new used entries but only {Outstanding} chains outstanding");
        for (int i = 0; i < fresh; i++)
        {
            ulong elem = UsedGpa + 4 + 8ul * (ulong)((_usedSeen + i) % Size);
            uint id = _ram.U32(elem), len = _ram.U32(elem + 4);
            if (id >= Size) fail($"queue {Index}: used id {id} >= queue size {Size}");
            if (!Chaos && _outstanding[id] == 0) fail($"queue {Index}: used id {id} was not made available (or was returned twice)");
            if (len > _writableBytes[id]) fail($"queue {Index}: used len {len} > the {_writableBytes[id]} writable bytes of chain {id}");
            if (_outstanding[id] > 0) { _outstanding[id]--; Outstanding--; }
            yield return ((ushort)id, len, _writable[id]);
            if (_outstanding[id] == 0 && !Chaos) { _writable[id].Clear(); _writableBytes[id] = 0; }
        }

        _usedSeen = usedIdx;
    }

    /// <summary>Walks the chain at <paramref name="head"/> generously (whatever the device would reject
    /// included) and adds its writable ranges to the head's book.</summary>
    private void Remember(ushort head)
    {
        var ranges = _writable[head];
        ulong total = 0;
        int index = head;
        for (int steps = 0; steps <= Size && index < Size; steps++)
        {
            ulong d = DescGpa + 16ul * (ulong)index;
            ulong addr = _ram.U64(d);
            uint len = _ram.U32(d + 8);
            ushort flags = _ram.U16(d + 12), next = _ram.U16(d + 14);
            if ((flags & Indirect) != 0)
            {
                total += WalkTable(addr, len, ranges);
            }
            else if ((flags & Write) != 0)
            {
                Add(ranges, addr, len);
                total += len;
            }

            if ((flags & Next) == 0) break;
            index = next;
        }

        _writableBytes[head] = Math.Max(_writableBytes[head], total);
    }

    private ulong WalkTable(ulong table, uint length, List<WritableRange> ranges)
    {
        uint entries = Math.Min(length / 16, 4096u);
        ulong total = 0;
        uint index = 0;
        for (uint steps = 0; steps < entries && index < entries; steps++)
        {
            ulong d = table + 16ul * index;
            if (!_ram.Contains(d, 16)) break;
            ulong addr = _ram.U64(d);
            uint len = _ram.U32(d + 8);
            ushort flags = _ram.U16(d + 12), next = _ram.U16(d + 14);
            if ((flags & Write) != 0)
            {
                Add(ranges, addr, len);
                total += len;
            }

            if ((flags & Next) == 0) break;
            index = next;
        }

        return total;
    }

    private static void Add(List<WritableRange> ranges, ulong addr, uint len)
    {
        if (len == 0) return;
        var r = new WritableRange(addr, len);
        if (!ranges.Contains(r) && ranges.Count < 4096) ranges.Add(r);
    }
}
