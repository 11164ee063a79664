using System;
using System.Runtime.InteropServices;
using VsockNative.Wire;

namespace VsockNative.Protocol;

/// <summary>
/// Decoded private copy of a <c>virtio_vsock_hdr</c>. It is read once from guest memory and every
/// decision is taken on this copy, never on the guest's bytes again (no time-of-check/time-of-use).
/// </summary>
public readonly struct PacketHeader
{
    /// <summary>Creates a header from its ten fields, in wire order except that the CIDs come first.</summary>
    public PacketHeader(ulong srcCid, ulong dstCid, uint srcPort, uint dstPort, uint len, ushort type, ushort op,
        uint flags, uint bufAlloc, uint fwdCnt)
    {
        SrcCid = srcCid;
        DstCid = dstCid;
        SrcPort = srcPort;
        DstPort = dstPort;
        Len = len;
        Type = type;
        Op = op;
        Flags = flags;
        BufAlloc = bufAlloc;
        FwdCnt = fwdCnt;
    }

    /// <summary><c>src_cid</c>.</summary>
    public ulong SrcCid { get; }

    /// <summary><c>dst_cid</c>.</summary>
    public ulong DstCid { get; }

    /// <summary><c>src_port</c>.</summary>
    public uint SrcPort { get; }

    /// <summary><c>dst_port</c>.</summary>
    public uint DstPort { get; }

    /// <summary><c>len</c>: payload bytes after the header (the header is not counted).</summary>
    public uint Len { get; }

    /// <summary><c>type</c> (<see cref="VirtioVsockType"/>; any value as received).</summary>
    public ushort Type { get; }

    /// <summary><c>op</c> (<see cref="VirtioVsockOp"/>; any value as received).</summary>
    public ushort Op { get; }

    /// <summary><c>flags</c>: SHUTDOWN bits, or seqpacket EOM/EOR bits on RW; 0 otherwise.</summary>
    public uint Flags { get; }

    /// <summary><c>buf_alloc</c>: the sender's receive buffer size for this connection.</summary>
    public uint BufAlloc { get; }

    /// <summary><c>fwd_cnt</c>: the sender's free-running count of bytes it has consumed.</summary>
    public uint FwdCnt { get; }

    /// <summary>Decodes the first 44 bytes of <paramref name="bytes44"/> (little-endian).</summary>
    /// <exception cref="ArgumentException">Fewer than 44 bytes.</exception>
    public static PacketHeader Read(ReadOnlySpan<byte> bytes44)
    {
        // VirtioVsockHdr takes a Span; it is only read here.
        var h = new VirtioVsockHdr(MemoryMarshal.CreateSpan(ref MemoryMarshal.GetReference(bytes44), bytes44.Length));
        return new PacketHeader(h.SrcCid, h.DstCid, h.SrcPort, h.DstPort, h.Len, h.Type, h.Op, h.Flags, h.BufAlloc, h.FwdCnt);
    }

    /// <summary>Gathers the 44 header bytes from buffers split at any byte, then decodes them once.</summary>
    /// <exception cref="ArgumentException">The buffers hold fewer than 44 bytes.</exception>
    public static PacketHeader Read(ReadOnlySpan<IoVec> segments)
    {
        Span<byte> copy = stackalloc byte[VirtioVsockHdr.Size];
        new VirtioVsockHdrScatter(segments).CopyTo(copy);
        return Read(copy);
    }

    /// <summary>Encodes the header into the first 44 bytes of <paramref name="bytes44"/>.</summary>
    /// <exception cref="ArgumentException">Fewer than 44 bytes.</exception>
    public void Write(Span<byte> bytes44)
    {
        var h = new VirtioVsockHdr(bytes44);
        h.SrcCid = SrcCid;
        h.DstCid = DstCid;
        h.SrcPort = SrcPort;
        h.DstPort = DstPort;
        h.Len = Len;
        h.Type = Type;
        h.Op = Op;
        h.Flags = Flags;
        h.BufAlloc = BufAlloc;
        h.FwdCnt = FwdCnt;
    }

    /// <summary>Encodes the header into buffers split at any byte (one scatter of a contiguous copy).</summary>
    /// <exception cref="ArgumentException">The buffers hold fewer than 44 bytes.</exception>
    public void Write(ReadOnlySpan<IoVec> segments)
    {
        Span<byte> copy = stackalloc byte[VirtioVsockHdr.Size];
        Write(copy);
        new VirtioVsockHdrScatter(segments).CopyFrom(copy);
    }

    /// <summary>The fields, for logs.</summary>
    public override string ToString() =>
        $"{SrcCid}:{SrcPort} -> {DstCid}:{DstPort} type={Type} op={Op} len={Len} flags={Flags} buf_alloc={BufAlloc} fwd_cnt={FwdCnt}";
}
