using System;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using VsockNative.Wire;
using Xunit;

namespace VsockNative.Tests.Generator;

/// <summary>The generated accessors compiled into the library: little-endian, in place, and the scatter
/// view agrees with the span view for a header split at any byte into any number of pieces.</summary>
public unsafe class WireAccessorTests
{
    private static void Fill(VirtioVsockHdr h)
    {
        h.SrcCid = 0x0102030405060708; h.DstCid = 2; h.SrcPort = 0xAABBCCDD; h.DstPort = 1024;
        h.Len = 4096; h.Type = (ushort)VirtioVsockType.Seqpacket; h.Op = (ushort)VirtioVsockOp.Rw;
        h.Flags = (uint)VirtioVsockRw.Eom; h.BufAlloc = 262144; h.FwdCnt = 0xFFFFFFFF;
    }

    [Fact]
    public void Span_view_writes_little_endian_at_the_spec_offsets()
    {
        var b = new byte[VirtioVsockHdr.Size];
        Fill(new VirtioVsockHdr(b));
        Assert.Equal(0x0102030405060708UL, BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(0)));
        Assert.Equal(0x08, b[0]);
        Assert.Equal(2UL, BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(8)));
        Assert.Equal(0xAABBCCDDu, BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(16)));
        Assert.Equal(1024u, BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(20)));
        Assert.Equal(4096u, BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(24)));
        Assert.Equal((ushort)2, BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(28)));
        Assert.Equal((ushort)5, BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(30)));
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(32)));
        Assert.Equal(262144u, BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(36)));
        Assert.Equal(0xFFFFFFFFu, BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(40)));
        Assert.Equal(44, VirtioVsockHdr.Size);
        Assert.Equal(8, VirtioVsockConfig.Size);
        Assert.Equal(4, VirtioVsockEvent.Size);
    }

    [Fact]
    public void Span_view_rejects_a_short_buffer()
    {
        var b = new byte[43];
        Assert.Throws<ArgumentException>(() => new VirtioVsockHdr(b));
    }

    [Fact]
    public void Scatter_view_agrees_with_the_span_view_for_every_split()
    {
        var reference = new byte[VirtioVsockHdr.Size];
        Fill(new VirtioVsockHdr(reference));
        for (int pieces = 1; pieces <= 5; pieces++)
            for (int k = 0; k <= VirtioVsockHdr.Size; k++)
                WithSplit(k, pieces, segs =>
                {
                    // read through the scatter view
                    var sv = new VirtioVsockHdrScatter(segs);
                    Assert.Equal(0x0102030405060708UL, sv.SrcCid);
                    Assert.Equal(0xAABBCCDDu, sv.SrcPort);
                    Assert.Equal((ushort)VirtioVsockOp.Rw, sv.Op);
                    Assert.Equal(0xFFFFFFFFu, sv.FwdCnt);
                    var copy = new byte[VirtioVsockHdr.Size];
                    sv.CopyTo(copy);
                    Assert.Equal(reference, copy);
                    // write through it: the bytes land where the span view puts them
                    sv.DstPort = 0x01020304;
                    sv.Len = 7;
                    sv.CopyTo(copy);
                    var v = new VirtioVsockHdr(copy);
                    Assert.Equal(0x01020304u, v.DstPort);
                    Assert.Equal(7u, v.Len);
                    Assert.Equal(0x0102030405060708UL, v.SrcCid);
                }, reference);
    }

    [Fact]
    public void Scatter_view_rejects_buffers_shorter_than_the_header()
    {
        var mem = (byte*)NativeMemory.Alloc(40);
        try
        {
            var segs = new[] { new IoVec((nint)mem, 40) };
            Assert.Throws<ArgumentException>(() => { _ = new VirtioVsockHdrScatter(segs); });
        }
        finally { NativeMemory.Free(mem); }
    }

    /// <summary>Lays <paramref name="content"/> out in separately allocated pieces: the first split at
    /// byte k, the rest cut evenly into <paramref name="pieces"/> - 1 parts.</summary>
    private static void WithSplit(int k, int pieces, Action<IoVec[]> body, byte[] content)
    {
        var cuts = new System.Collections.Generic.List<int> { 0, k };
        for (int i = 1; i < pieces; i++) cuts.Add(k + (content.Length - k) * i / pieces);
        cuts.Add(content.Length);
        cuts.Sort();
        var segs = new System.Collections.Generic.List<IoVec>();
        var blocks = new System.Collections.Generic.List<nint>();
        try
        {
            for (int i = 0; i + 1 < cuts.Count; i++)
            {
                int len = cuts[i + 1] - cuts[i];
                var p = (byte*)NativeMemory.Alloc((nuint)Math.Max(len, 1));
                blocks.Add((nint)p);
                content.AsSpan(cuts[i], len).CopyTo(new Span<byte>(p, len));
                segs.Add(new IoVec((nint)p, (nuint)len));
            }
            body(segs.ToArray());
        }
        finally { foreach (var b in blocks) NativeMemory.Free((void*)b); }
    }
}
