using System;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using VsockNative.Memory;

namespace VsockNative.Fuzz;

/// <summary>
/// The guest's RAM: two regions, each its own native allocation with canary slack before and
/// after it (never given to the device). After every step the harness compares the whole
/// allocation, slack included, with a shadow copy of what the guest wrote: every byte the device
/// changed must lie in a range it was allowed to write (a used ring, a writable buffer of a chain
/// it holds). Allocated once per harness; <see cref="Reset"/> gives every input the same fresh bytes.
/// The guest's writes (<see cref="Span"/>, <see cref="W16"/> ...) mark 256-byte blocks dirty, and
/// <see cref="Commit"/> copies only those into the shadow: a guest write that bypassed the marks
/// would show up as a device write, never hide one.
/// </summary>
internal sealed unsafe class GuestRam : IDisposable
{
    public const int Slack = 256;
    public const byte Canary = 0xA5;
    public const ulong RingGpa = 0x10000, RingSize = 0x4000;
    public const ulong HeapGpa = 0x20000, HeapSize = 0x10000;

    private readonly Region[] _regions =
    {
        new(RingGpa, RingSize),
        new(HeapGpa, HeapSize),
    };

    public GuestRam()
    {
        var guest = new GuestRegion[_regions.Length];
        for (int i = 0; i < _regions.Length; i++) guest[i] = new GuestRegion(_regions[i].Gpa, _regions[i].Size, _regions[i].Host);
        if (GuestMemory.TryCreate(guest, out GuestMemory? memory) != GuestMemoryError.None)
            throw new InvalidOperationException("guest layout rejected");
        Memory = memory!;
        Reset();
    }

    public GuestMemory Memory { get; }

    /// <summary>Canaries everywhere, the shadow equal: the bytes of a fresh allocation, for the next input.</summary>
    public void Reset()
    {
        foreach (var r in _regions) r.Reset();
    }

    public bool Contains(ulong gpa, ulong length) => Find(gpa, length) is not null;

    /// <summary>Guest bytes to write (marked dirty for <see cref="Commit"/>).</summary>
    public Span<byte> Span(ulong gpa, int length)
    {
        var r = Find(gpa, (ulong)length) ?? throw new ArgumentOutOfRangeException(nameof(gpa));
        int at = (int)(gpa - r.Gpa);
        r.MarkDirty(Slack + at, length);
        return r.Bytes.Slice(at, length);
    }

    /// <summary>Guest bytes to read.</summary>
    public ReadOnlySpan<byte> View(ulong gpa, int length) =>
        Find(gpa, (ulong)length) is { } r ? r.Bytes.Slice((int)(gpa - r.Gpa), length) : throw new ArgumentOutOfRangeException(nameof(gpa));

    public ushort U16(ulong gpa) => BinaryPrimitives.ReadUInt16LittleEndian(View(gpa, 2));
    public uint U32(ulong gpa) => BinaryPrimitives.ReadUInt32LittleEndian(View(gpa, 4));
    public ulong U64(ulong gpa) => BinaryPrimitives.ReadUInt64LittleEndian(View(gpa, 8));
    public void W16(ulong gpa, ushort v) => BinaryPrimitives.WriteUInt16LittleEndian(Span(gpa, 2), v);
    public void W32(ulong gpa, uint v) => BinaryPrimitives.WriteUInt32LittleEndian(Span(gpa, 4), v);
    public void W64(ulong gpa, ulong v) => BinaryPrimitives.WriteUInt64LittleEndian(Span(gpa, 8), v);

    /// <summary>Copies up to <paramref name="destination"/>.Length bytes from the guest (bytes outside memory read as 0).</summary>
    public void Read(ulong gpa, Span<byte> destination)
    {
        int i = 0;
        while (i < destination.Length)
        {
            ulong at = unchecked(gpa + (ulong)i);
            if (Find(at, 1) is not { } r)
            {
                destination[i++] = 0;
                continue;
            }

            int n = (int)Math.Min((ulong)(destination.Length - i), r.Gpa + r.Size - at);
            r.Bytes.Slice((int)(at - r.Gpa), n).CopyTo(destination[i..]);
            i += n;
        }
    }

    /// <summary>The guest wrote everything it wanted: the shadow now matches memory.</summary>
    public void Commit()
    {
        foreach (var r in _regions) r.CommitDirty();
    }

    /// <summary>Calls <paramref name="changed"/> with the GPA of every byte that differs from the shadow
    /// (a byte in the slack gets a GPA outside the region), then commits.</summary>
    public void Diff(Action<ulong> changed) => DiffRuns((gpa, length) =>
    {
        for (ulong i = 0; i < length; i++) changed(gpa + i);
    });

    /// <summary>Calls <paramref name="changed"/> with every run of bytes that differ from the shadow (the
    /// GPA of its first byte, its length; bytes in the slack get GPAs outside the region), then commits.</summary>
    public void DiffRuns(Action<ulong, ulong> changed)
    {
        foreach (var r in _regions)
        {
            Span<byte> now = r.All, was = r.Shadow;
            int at = 0;
            while (at < now.Length)
            {
                at += now[at..].CommonPrefixLength(was[at..]);
                if (at >= now.Length) break;
                int end = at + 1;
                while (end < now.Length && now[end] != was[end]) end++;
                now[at..end].CopyTo(was[at..]);
                changed(r.Gpa - Slack + (ulong)at, (ulong)(end - at));
                at = end;
            }

            r.ClearDirty();
        }
    }

    public void Dispose()
    {
        foreach (var r in _regions) r.Free();
    }

    private Region? Find(ulong gpa, ulong length)
    {
        foreach (var r in _regions)
            if (gpa >= r.Gpa && length <= r.Size && gpa - r.Gpa <= r.Size - length) return r;
        return null;
    }

    private sealed class Region
    {
        private const int BlockShift = 8;
        private byte* _base;
        private readonly bool[] _dirty;
        private int _dirtyFrom, _dirtyTo;

        public Region(ulong gpa, ulong size)
        {
            Gpa = gpa;
            Size = size;
            nuint total = (nuint)size + 2 * Slack;
            _base = (byte*)NativeMemory.AlignedAlloc(total, 4096);
            Shadow = new byte[total];
            _dirty = new bool[((int)total >> BlockShift) + 1];
        }

        public ulong Gpa { get; }
        public ulong Size { get; }
        public byte[] Shadow { get; }
        public nint Host => (nint)(_base + Slack);
        public Span<byte> All => new(_base, (int)Size + 2 * Slack);
        public Span<byte> Bytes => new(_base + Slack, (int)Size);

        public void Reset()
        {
            All.Fill(Canary);
            Shadow.AsSpan().Fill(Canary);
            ClearDirty();
        }

        /// <summary>Bytes [<paramref name="offset"/>, +<paramref name="length"/>) of <see cref="All"/> were written by the guest.</summary>
        public void MarkDirty(int offset, int length)
        {
            if (length <= 0) return;
            int first = offset >> BlockShift, last = (offset + length - 1) >> BlockShift;
            for (int b = first; b <= last; b++) _dirty[b] = true;
            if (_dirtyFrom > _dirtyTo) (_dirtyFrom, _dirtyTo) = (first, last);
            else (_dirtyFrom, _dirtyTo) = (Math.Min(_dirtyFrom, first), Math.Max(_dirtyTo, last));
        }

        public void CommitDirty()
        {
            Span<byte> all = All;
            for (int b = _dirtyFrom; b <= _dirtyTo; b++)
            {
                if (!_dirty[b]) continue;
                int start = b << BlockShift;
                while (b + 1 <= _dirtyTo && _dirty[b + 1]) b++;
                int end = Math.Min(all.Length, (b + 1) << BlockShift);
                all[start..end].CopyTo(Shadow.AsSpan(start));
            }

            ClearDirty();
        }

        public void ClearDirty()
        {
            if (_dirtyFrom <= _dirtyTo) Array.Clear(_dirty, _dirtyFrom, _dirtyTo - _dirtyFrom + 1);
            _dirtyFrom = 1;
            _dirtyTo = 0;
        }

        public void Free()
        {
            if (_base != null) NativeMemory.AlignedFree(_base);
            _base = null;
        }
    }
}
