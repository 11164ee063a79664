using System;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using VsockNative.Memory;

namespace VsockNative.Fuzz;

/// <summary>
/// The guest's RAM for one fuzz input: two regions, each its own native allocation with canary
/// slack before and after it (never given to the device). After every step the harness compares
/// the whole allocation, slack included, with a shadow copy of what the guest wrote: every byte
/// the device changed must lie in a range it was allowed to write (a used ring, a writable buffer
/// of a chain it holds).
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
    }

    public GuestMemory Memory { get; }

    public bool Contains(ulong gpa, ulong length) => Find(gpa, length) is not null;

    public Span<byte> Span(ulong gpa, int length) =>
        Find(gpa, (ulong)length) is { } r ? r.Bytes.Slice((int)(gpa - r.Gpa), length) : throw new ArgumentOutOfRangeException(nameof(gpa));

    public ushort U16(ulong gpa) => BinaryPrimitives.ReadUInt16LittleEndian(Span(gpa, 2));
    public uint U32(ulong gpa) => BinaryPrimitives.ReadUInt32LittleEndian(Span(gpa, 4));
    public ulong U64(ulong gpa) => BinaryPrimitives.ReadUInt64LittleEndian(Span(gpa, 8));
    public void W16(ulong gpa, ushort v) => BinaryPrimitives.WriteUInt16LittleEndian(Span(gpa, 2), v);
    public void W32(ulong gpa, uint v) => BinaryPrimitives.WriteUInt32LittleEndian(Span(gpa, 4), v);
    public void W64(ulong gpa, ulong v) => BinaryPrimitives.WriteUInt64LittleEndian(Span(gpa, 8), v);

    /// <summary>Copies up to <paramref name="destination"/>.Length bytes from the guest (bytes outside memory read as 0).</summary>
    public void Read(ulong gpa, Span<byte> destination)
    {
        for (int i = 0; i < destination.Length; i++)
            destination[i] = Find(gpa + (ulong)i, 1) is { } r ? r.Bytes[(int)(gpa + (ulong)i - r.Gpa)] : (byte)0;
    }

    /// <summary>The guest wrote everything it wanted: the shadow now matches memory.</summary>
    public void Commit()
    {
        foreach (var r in _regions) r.All.CopyTo(r.Shadow);
    }

    /// <summary>Calls <paramref name="changed"/> with the GPA of every byte that differs from the shadow
    /// (a byte in the slack gets a GPA outside the region), then commits.</summary>
    public void Diff(Action<ulong> changed)
    {
        foreach (var r in _regions)
        {
            ReadOnlySpan<byte> now = r.All, was = r.Shadow;
            int at = 0;
            while (at < now.Length)
            {
                int same = now[at..].CommonPrefixLength(was[at..]);
                at += same;
                if (at >= now.Length) break;
                changed(r.Gpa - Slack + (ulong)at);
                at++;
            }
        }

        Commit();
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
        private byte* _base;

        public Region(ulong gpa, ulong size)
        {
            Gpa = gpa;
            Size = size;
            nuint total = (nuint)size + 2 * Slack;
            _base = (byte*)NativeMemory.AlignedAlloc(total, 4096);
            new Span<byte>(_base, (int)total).Fill(Canary);
            Shadow = new byte[total];
            All.CopyTo(Shadow);
        }

        public ulong Gpa { get; }
        public ulong Size { get; }
        public byte[] Shadow { get; }
        public nint Host => (nint)(_base + Slack);
        public Span<byte> All => new(_base, (int)Size + 2 * Slack);
        public Span<byte> Bytes => new(_base + Slack, (int)Size);

        public void Free()
        {
            if (_base != null) NativeMemory.AlignedFree(_base);
            _base = null;
        }
    }
}
