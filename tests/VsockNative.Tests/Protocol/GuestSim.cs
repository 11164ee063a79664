using System;
using System.Collections.Generic;
using VsockNative.Protocol;
using VsockNative.Wire;
using Xunit;

namespace VsockNative.Tests.Protocol;

/// <summary>One packet the device wrote into an rx buffer, as the guest decodes it.</summary>
internal sealed record Received(PacketHeader Header, byte[] Payload, uint Written)
{
    public VirtioVsockOp Op => (VirtioVsockOp)Header.Op;
}

/// <summary>
/// Plays the guest driver for one connection, honestly: it sends RW only within the credit it
/// learned from the device's packets, keeps its own tx_cnt/fwd_cnt, and (when <see cref="AutoConsume"/>)
/// consumes received data at once and sends CREDIT_UPDATE the way Linux does
/// (virtio_transport_stream_do_dequeue: fwd_cnt moved and free space below 64 KiB).
/// </summary>
internal sealed class GuestSim : IDisposable
{
    public const uint LinuxUpdateThreshold = 64 * 1024;
    public static readonly ConnKey Key = new(HostCid: 2, HostPort: 1024, GuestCid: 3, GuestPort: 50000);

    private GuestSim(FakeHostStream host, uint initialCount)
    {
        Host = host;
        TxCnt = FwdCnt = LastFwdSent = initialCount;
    }

    public Connection Conn { get; private set; } = null!;

    public FakeHostStream Host { get; }

    public NativeBuffers Memory { get; } = new();

    public long Now { get; set; } = 1_000;

    /// <summary>The guest's receive buffer for this connection (its buf_alloc).</summary>
    public uint BufAlloc { get; set; } = 256 * 1024;

    public uint TxCnt { get; set; }

    public uint FwdCnt { get; set; }

    public uint LastFwdSent { get; set; }

    public uint PeerBufAlloc { get; private set; }

    public uint PeerFwdCnt { get; private set; }

    /// <summary>The device's credit as this guest knows it.</summary>
    public uint PeerFree => CreditMath.Free(PeerBufAlloc, TxCnt, PeerFwdCnt);

    public bool AutoConsume { get; set; } = true;

    /// <summary>Like Linux: once the device's SHUTDOWN flags add up to RCV|SEND, answer with RST.</summary>
    public bool AnswerFullShutdownWithRst { get; set; } = true;

    /// <summary>SHUTDOWN flags received from the device, cumulative.</summary>
    public uint PeerShutdown { get; private set; }

    public List<Received> Log { get; } = new();

    /// <summary>Guest-initiated: REQUEST handled by AcceptFromGuest; RESPONSE not yet taken.</summary>
    public static GuestSim Accepting(ConnectionLimits? limits = null, uint initialCount = 0, FakeHostStream? host = null, uint? guestBufAlloc = null)
    {
        var g = new GuestSim(host ?? new FakeHostStream(), initialCount);
        if (guestBufAlloc is { } b) g.BufAlloc = b;  // the REQUEST already carries it
        g.Conn = Connection.AcceptFromGuest(Key, g.Header(VirtioVsockOp.Request), g.Host, limits ?? ConnectionLimits.Default, g.Now, initialCount);
        return g;
    }

    /// <summary>Guest-initiated and established: the RESPONSE was received.</summary>
    public static GuestSim Established(ConnectionLimits? limits = null, uint initialCount = 0, FakeHostStream? host = null)
    {
        GuestSim g = Accepting(limits, initialCount, host);
        Assert.Equal(VirtioVsockOp.Response, g.Receive()!.Op);
        Assert.Equal(ConnState.Established, g.Conn.State);
        return g;
    }

    /// <summary>Host-initiated: the connection owes a REQUEST (not yet taken).</summary>
    public static GuestSim Connecting(ConnectionLimits? limits = null)
    {
        var g = new GuestSim(new FakeHostStream(), 0);
        g.Conn = Connection.ConnectToGuest(Key, g.Host, limits ?? ConnectionLimits.Default, g.Now);
        return g;
    }

    /// <summary>Guest-initiated SEQPACKET connection over a message host, established.</summary>
    public static GuestSim Seqpacket(ConnectionLimits? limits = null, FakeHostMessages? host = null, uint bufAlloc = 256 * 1024)
    {
        var g = new GuestSim(host ?? new FakeHostMessages(), 0) { Type = (ushort)VirtioVsockType.Seqpacket, BufAlloc = bufAlloc };
        g.Conn = Connection.AcceptFromGuest(Key, g.Header(VirtioVsockOp.Request), g.Host, limits ?? ConnectionLimits.Default, g.Now);
        Assert.Equal(VirtioVsockOp.Response, g.Receive()!.Op);
        Assert.Equal(VirtioVsockType.Seqpacket, g.Conn.Type);
        return g;
    }

    /// <summary>The socket type of this guest's packets (and of the device's, checked on receipt).</summary>
    public ushort Type { get; private set; } = (ushort)VirtioVsockType.Stream;

    /// <summary>The host as a message socket (seqpacket guests).</summary>
    public FakeHostMessages Messages => (FakeHostMessages)Host;

    public PacketHeader Header(VirtioVsockOp op, uint len = 0, uint flags = 0, ushort? type = null) =>
        new(Key.GuestCid, Key.HostCid, Key.GuestPort, Key.HostPort, len, type ?? Type, (ushort)op, flags, BufAlloc, FwdCnt);

    /// <summary>A control packet (no payload).</summary>
    public void Send(VirtioVsockOp op, uint flags = 0)
    {
        Conn.OnGuestPacket(Header(op, 0, flags), ReadOnlySpan<IoVec>.Empty, Now);
        LastFwdSent = FwdCnt; // every packet carries fwd_cnt
    }

    public void SendRaw(in PacketHeader h, ReadOnlySpan<IoVec> payload) => Conn.OnGuestPacket(h, payload, Now);

    /// <summary>An RW with these bytes, split at <paramref name="cuts"/>; no credit check (tests of violations use it).</summary>
    public void SendData(ReadOnlySpan<byte> data, params int[] cuts)
    {
        IoVec[] payload = Memory.From(data, cuts);
        Conn.OnGuestPacket(Header(VirtioVsockOp.Rw, (uint)data.Length), payload, Now);
        LastFwdSent = FwdCnt;
        TxCnt = unchecked(TxCnt + (uint)data.Length);
    }

    /// <summary>One RW of a seqpacket message (flags: EOM on the last piece, EOR too when asked).</summary>
    public void SendPiece(ReadOnlySpan<byte> data, uint flags)
    {
        IoVec[] payload = Memory.From(data);
        Conn.OnGuestPacket(Header(VirtioVsockOp.Rw, (uint)data.Length, flags), payload, Now);
        LastFwdSent = FwdCnt;
        TxCnt = unchecked(TxCnt + (uint)data.Length);
    }

    /// <summary>An RW of <paramref name="length"/> pattern bytes from <paramref name="position"/>, zero-copy.</summary>
    public void SendPattern(long position, int length)
    {
        Span<IoVec> payload = stackalloc IoVec[1];
        payload[0] = TestPattern.At(position, length);
        Conn.OnGuestPacket(Header(VirtioVsockOp.Rw, (uint)length), payload, Now);
        LastFwdSent = FwdCnt;
        TxCnt = unchecked(TxCnt + (uint)length);
    }

    /// <summary>Posts one rx buffer of <paramref name="size"/> bytes cut at <paramref name="cuts"/> and
    /// decodes what the device wrote (null when it wrote nothing).</summary>
    public Received? Receive(int size = 4096 + 44, params int[] cuts)
    {
        IoVec[] rx = Memory.Split(size, cuts);
        uint written = Conn.FillRx(rx, Now);
        if (written == 0)
            return null;
        PacketHeader h = PacketHeader.Read(rx);
        Assert.Equal(VirtioVsockHdr.Size + h.Len, written);
        var r = new Received(h, NativeBuffers.Gather(rx, VirtioVsockHdr.Size, (int)h.Len), written);
        Absorb(h);
        Log.Add(r);
        return r;
    }

    /// <summary>Receives until the device has nothing more.</summary>
    public List<Received> ReceiveAll(int size = 4096 + 44)
    {
        var all = new List<Received>();
        while (Conn.HasPendingRx)
        {
            Received? r = Receive(size);
            if (r is null)
                break;
            all.Add(r);
        }

        return all;
    }

    /// <summary>What the guest does with a packet it received: learn the device's credit, answer
    /// CREDIT_REQUEST, consume data (Linux's credit update rule).</summary>
    public void Absorb(in PacketHeader h)
    {
        Assert.Equal(Key.HostCid, h.SrcCid);
        Assert.Equal(Key.GuestCid, h.DstCid);
        Assert.Equal(Key.HostPort, h.SrcPort);
        Assert.Equal(Key.GuestPort, h.DstPort);
        Assert.Equal(Type, h.Type);
        Learn(h);
    }

    /// <summary><see cref="Absorb"/> without the address checks (xunit asserts allocate; the
    /// allocation test uses this).</summary>
    public void Learn(in PacketHeader h)
    {
        PeerBufAlloc = h.BufAlloc;
        PeerFwdCnt = h.FwdCnt;
        if (h.Op == (ushort)VirtioVsockOp.CreditRequest)
            Send(VirtioVsockOp.CreditUpdate);
        if (h.Op == (ushort)VirtioVsockOp.Rw && AutoConsume)
            Consume(h.Len);
        if (h.Op == (ushort)VirtioVsockOp.Shutdown)
        {
            PeerShutdown |= h.Flags;
            if (PeerShutdown == 3 && AnswerFullShutdownWithRst)
                Send(VirtioVsockOp.Rst);
        }
    }

    /// <summary>The guest application read <paramref name="n"/> bytes.</summary>
    public void Consume(uint n)
    {
        FwdCnt = unchecked(FwdCnt + n);
        uint delta = unchecked(FwdCnt - LastFwdSent);
        uint free = unchecked(BufAlloc - delta);
        if (delta != 0 && free < LinuxUpdateThreshold)
            Send(VirtioVsockOp.CreditUpdate);
    }

    public void Dispose() => Memory.Dispose();
}
