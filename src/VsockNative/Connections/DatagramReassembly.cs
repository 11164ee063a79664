using System;
using VsockNative.Memory;
using VsockNative.Protocol;
using VsockNative.Wire;

namespace VsockNative.Connections;

/// <summary>
/// The one guest datagram being reassembled from fragments. The 2023 proposal requires a sender to
/// queue all fragments of a datagram before any other packet, so one tx queue has at most one
/// partial datagram: one pinned buffer of <see cref="DatagramOptions.MaxDatagram"/> bytes, allocated
/// once (by the first datagram: a guest that sends none never costs it), and a deadline after which
/// the partial datagram is dropped (a guest cannot pin it).
/// </summary>
internal sealed class DatagramReassembly
{
    private PinnedBuffer? _allocated;
    private PinnedBuffer Buffer => _allocated ??= new(DatagramOptions.MaxDatagram);

    /// <summary>A datagram is in progress (collecting, or discarding the rest of one that was too big).</summary>
    public bool Active { get; private set; }
    /// <summary>The datagram grew past the limit: its remaining fragments are dropped up to EOM.</summary>
    public bool Discarding { get; private set; }
    public ulong DstCid { get; private set; }
    public uint SrcPort { get; private set; }
    public uint DstPort { get; private set; }
    public int Length { get; private set; }
    public long DeadlineMs { get; private set; } = long.MaxValue;

    /// <summary>Whether a fragment continues the datagram in progress (same addresses).</summary>
    public bool Continues(in PacketHeader h) => Active && h.DstCid == DstCid && h.SrcPort == SrcPort && h.DstPort == DstPort;

    public void Start(in PacketHeader h, long deadlineMs)
    {
        Active = true;
        Discarding = false;
        DstCid = h.DstCid;
        SrcPort = h.SrcPort;
        DstPort = h.DstPort;
        Length = 0;
        DeadlineMs = deadlineMs;
    }

    /// <summary>Appends a fragment; false when it would pass the limit (the datagram is then discarded).</summary>
    public bool Append(ReadOnlySpan<IoVec> payload, ulong length)
    {
        if (Discarding) return false;
        if ((ulong)Length + length > DatagramOptions.MaxDatagram)
        {
            Discarding = true;
            return false;
        }
        ScatterIo.Gather(payload, 0, Buffer.Span.Slice(Length, (int)length));
        Length += (int)length;
        return true;
    }

    /// <summary>The reassembled bytes as one IoVec (the buffer is pinned).</summary>
    public IoVec Data
    {
        get { return Buffer.Slice(0, Length); }
    }

    public void Reset()
    {
        Active = false;
        Discarding = false;
        Length = 0;
        DeadlineMs = long.MaxValue;
    }
}
