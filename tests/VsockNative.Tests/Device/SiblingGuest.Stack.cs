using System;
using System.Collections.Generic;
using System.Linq;
using VsockNative.Tests.Protocol;
using VsockNative.Wire;
using Xunit;

namespace VsockNative.Tests.Device;

/// <summary>One connection of a <see cref="SiblingGuest"/>'s small vsock stack, as a Linux guest keeps
/// it: the peer's credit (learned from every header), our own receive window, what arrived (stream
/// bytes checked against <see cref="TestPattern"/> from <see cref="ReceiveFrom"/>, seqpacket messages
/// with their EOR flag), shutdown flags and RST.</summary>
internal sealed class GuestConn
{
    public GuestConn(ulong peerCid, uint localPort, uint peerPort, VirtioVsockType type, uint bufAlloc)
    {
        PeerCid = peerCid;
        LocalPort = localPort;
        PeerPort = peerPort;
        Type = type;
        BufAlloc = bufAlloc;
    }

    public ulong PeerCid { get; }
    public uint LocalPort { get; }
    public uint PeerPort { get; }
    public VirtioVsockType Type { get; }
    public bool Established, Refused, RstReceived, RstSent;
    /// <summary>SHUTDOWN flags the peer sent (cumulative).</summary>
    public uint PeerShutdown;
    public uint TxCnt, PeerBufAlloc, PeerFwdCnt;
    /// <summary>Stream: pattern bytes sent, from <see cref="SendFrom"/> on.</summary>
    public long Sent, SendFrom;
    /// <summary>Our window: buf_alloc, bytes received, consumed (fwd_cnt), and the fwd_cnt last told.</summary>
    public readonly uint BufAlloc;
    public uint RxCnt, FwdCnt, LastFwdSent;
    /// <summary>Stream: bytes received, checked against the pattern from <see cref="ReceiveFrom"/> on.</summary>
    public long Received, ReceiveFrom;
    public long BadBytes, CreditViolations, BadFlags, DataAfterShutdown;
    /// <summary>False: the application stops reading (what arrives stays unconsumed; fwd_cnt stands still).</summary>
    public bool Reading = true;
    public readonly List<(byte[] Data, bool Eor)> Messages = new();
    public readonly List<byte> Partial = new();

    public uint PeerFree => TxCnt - PeerFwdCnt > PeerBufAlloc ? 0 : PeerBufAlloc - (TxCnt - PeerFwdCnt);
    public bool Ended => RstReceived || RstSent || Refused;
}

internal sealed partial class SiblingGuest
{
    private readonly Dictionary<(ulong Cid, uint PeerPort, uint LocalPort), GuestConn> _conns = new();
    private readonly Dictionary<uint, Queue<GuestConn>> _listening = new();
    private uint _nextPort = 40000;

    /// <summary>Packets for no connection of this guest (answered with RST unless a RST).</summary>
    public long UnknownPackets;

    /// <summary>Sends a REQUEST from a new port.</summary>
    public GuestConn Connect(ulong cid, uint port, VirtioVsockType type = VirtioVsockType.Stream, uint bufAlloc = 256 << 10)
    {
        var c = new GuestConn(cid, _nextPort++, port, type, bufAlloc);
        _conns[(cid, port, c.LocalPort)] = c;
        Send(c, VirtioVsockOp.Request);
        return c;
    }

    public void Listen(uint port) => _listening[port] = new Queue<GuestConn>();

    /// <summary>The next connection accepted on a listening port, or null.</summary>
    public GuestConn? Accept(uint port) => _listening[port].TryDequeue(out var c) ? c : null;

    public void Shutdown(GuestConn c, VirtioVsockShutdown flags) => Send(c, VirtioVsockOp.Shutdown, flags: (uint)flags);

    public void Rst(GuestConn c)
    {
        Send(c, VirtioVsockOp.Rst);
        c.RstSent = true;
    }

    /// <summary>Stream: sends pattern bytes up to <paramref name="upTo"/> in all, within the peer's credit,
    /// at most <paramref name="packets"/> packets of <paramref name="chunk"/> bytes now.</summary>
    public void SendStream(GuestConn c, long upTo, int chunk = 16384, int packets = 16)
    {
        for (int i = 0; i < packets && c.Sent < upTo && c.PeerFree > 0 && !c.Ended; i++)
        {
            int n = (int)Math.Min(Math.Min(chunk, c.PeerFree), upTo - c.Sent);
            Send(c, VirtioVsockOp.Rw, TestPattern.Span(c.SendFrom + c.Sent, n));
            c.Sent += n;
        }
    }

    /// <summary>Seqpacket: sends what credit allows of <paramref name="message"/> from <paramref name="done"/>
    /// on, in pieces of at most <paramref name="chunk"/> bytes, EOM (and EOR when asked) on the last.
    /// True when the whole message is out.</summary>
    public bool SendMessage(GuestConn c, byte[] message, bool eor, ref int done, int chunk = 16384)
    {
        do
        {
            int n = (int)Math.Min(Math.Min(chunk, c.PeerFree), message.Length - done);
            bool last = done + n == message.Length;
            if (n == 0 && !last) return false;
            uint flags = last ? (uint)VirtioVsockRw.Eom | (eor ? (uint)VirtioVsockRw.Eor : 0) : 0;
            Send(c, VirtioVsockOp.Rw, message.AsSpan(done, n), flags);
            done += n;
        }
        while (done < message.Length);
        return true;
    }

    private void Send(GuestConn c, VirtioVsockOp op, ReadOnlySpan<byte> payload = default, uint flags = 0)
    {
        SendPacket(c.PeerCid, c.LocalPort, c.PeerPort, op, c.Type, payload, flags, c.BufAlloc, c.FwdCnt);
        c.LastFwdSent = c.FwdCnt;
        c.TxCnt += (uint)payload.Length;
    }

    /// <summary>One packet from the device.</summary>
    private void Handle(byte[] p)
    {
        Assert.True(p.Length >= VirtioVsockHdr.Size, $"a used rx buffer of {p.Length} bytes");
        var h = new VirtioVsockHdr(p);
        Assert.Equal(Cid, h.DstCid);
        Assert.Equal((uint)(p.Length - VirtioVsockHdr.Size), h.Len);
        var op = (VirtioVsockOp)h.Op;
        if (!_conns.TryGetValue((h.SrcCid, h.SrcPort, h.DstPort), out var c))
        {
            if (op == VirtioVsockOp.Request && _listening.TryGetValue(h.DstPort, out var backlog))
            {
                c = new GuestConn(h.SrcCid, h.DstPort, h.SrcPort, (VirtioVsockType)h.Type, 256 << 10) { Established = true };
                _conns[(h.SrcCid, h.SrcPort, h.DstPort)] = c;
                TakeCredit(c, h);
                Send(c, VirtioVsockOp.Response);
                backlog.Enqueue(c);
                return;
            }
            UnknownPackets++;
            if (op != VirtioVsockOp.Rst)
                SendPacket(h.SrcCid, h.DstPort, h.SrcPort, VirtioVsockOp.Rst, (VirtioVsockType)h.Type);
            return;
        }
        if (h.Type != (ushort)c.Type) c.BadFlags++;
        TakeCredit(c, h);
        switch (op)
        {
            case VirtioVsockOp.Response:
                c.Established = true;
                break;
            case VirtioVsockOp.Rst:
                if (!c.Established) c.Refused = true;
                c.RstReceived = true;
                break;
            case VirtioVsockOp.Shutdown:
                c.PeerShutdown |= h.Flags;
                // As Linux (virtio_transport_recv_connected): the peer shut both ways, so reset.
                if (c.PeerShutdown == (uint)(VirtioVsockShutdown.Rcv | VirtioVsockShutdown.Send) && !c.Ended) Rst(c);
                break;
            case VirtioVsockOp.CreditRequest:
                Send(c, VirtioVsockOp.CreditUpdate);
                break;
            case VirtioVsockOp.Rw:
                OnData(c, h.Flags, p.AsSpan(VirtioVsockHdr.Size));
                break;
        }
    }

    private static void TakeCredit(GuestConn c, in VirtioVsockHdr h)
    {
        c.PeerBufAlloc = h.BufAlloc;
        c.PeerFwdCnt = h.FwdCnt;
    }

    private static void OnData(GuestConn c, uint flags, ReadOnlySpan<byte> data)
    {
        if (c.RxCnt - c.FwdCnt + (uint)data.Length > c.BufAlloc) c.CreditViolations++;
        if ((c.PeerShutdown & (uint)VirtioVsockShutdown.Send) != 0) c.DataAfterShutdown++;
        c.RxCnt += (uint)data.Length;
        if (c.Type == VirtioVsockType.Stream)
        {
            if (flags != 0) c.BadFlags++;
            if (!data.SequenceEqual(TestPattern.Span(c.ReceiveFrom + c.Received, data.Length))) c.BadBytes++;
            c.Received += data.Length;
            return;
        }
        if ((flags & ~(uint)(VirtioVsockRw.Eom | VirtioVsockRw.Eor)) != 0 || flags == (uint)VirtioVsockRw.Eor) c.BadFlags++;
        c.Partial.AddRange(data.ToArray());
        if ((flags & (uint)VirtioVsockRw.Eom) == 0) return;
        c.Messages.Add((c.Partial.ToArray(), (flags & (uint)VirtioVsockRw.Eor) != 0));
        c.Partial.Clear();
    }

    /// <summary>Applications that read consume what arrived; a CREDIT_UPDATE goes out once a quarter of
    /// the window was freed since the peer last heard of it (it also rides on every packet we send).</summary>
    private void Consume()
    {
        foreach (var c in _conns.Values)
        {
            if (!c.Reading || c.Ended) continue;
            c.FwdCnt = c.RxCnt;
            if (c.FwdCnt - c.LastFwdSent >= c.BufAlloc / 4) Send(c, VirtioVsockOp.CreditUpdate);
        }
    }
}
