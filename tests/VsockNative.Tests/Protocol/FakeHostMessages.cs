using System;
using System.Collections.Generic;
using VsockNative.Protocol;
using VsockNative.Wire;
using VsockNative.Diagnostics;

namespace VsockNative.Tests.Protocol;

/// <summary>
/// A scripted SOCK_SEQPACKET host socket. Guest-to-host: every message the device sends is recorded
/// whole with its EOR flag, unless <see cref="Blocked"/> (would-block), <see cref="SendError"/>, or
/// longer than <see cref="MaxMessage"/> (-EMSGSIZE). Host-to-guest: <see cref="Inbound"/> messages are
/// handed out one per read (truncated reads report the real length, as MSG_TRUNC does), then
/// would-block, or the end of the stream once <see cref="InboundEof"/>.
/// </summary>
internal class FakeHostMessages : FakeHostStream, IHostMessageStream
{
    public const long EMsgSize = -90;

    public List<(byte[] Data, bool Eor)> Sent { get; } = new();

    public Queue<(byte[] Data, bool Eor)> Inbound { get; } = new();

    public bool InboundEof { get; set; }

    public bool Blocked { get; set; }

    public long SendError { get; set; }

    public long MaxMessage { get; set; } = long.MaxValue;

    public int Peeks { get; private set; }

    /// <summary>When set, and <see cref="Inbound"/> is empty, the host always has another message of
    /// the next of these sizes, filled from <see cref="TestPattern"/> (no allocation per message).</summary>
    public int[]? EndlessSizes { get; set; }

    public long MessagesSent { get; private set; }

    private int endlessNext;

    public long SendMessage(ReadOnlySpan<IoVec> data, bool endOfRecord)
    {
        Alive();
        long length = (long)ScatterIo.TotalLength(data);
        if (SendError != 0)
            return SendError;
        if (length > MaxMessage)
            return EMsgSize;
        if (Blocked)
            return HostStreamResult.WouldBlock;
        MessagesSent++;
        if (!Record)
            return length;
        var copy = new byte[length];
        ScatterIo.Gather(data, 0, copy);
        Sent.Add((copy, endOfRecord));
        return length;
    }

    public long PeekMessage()
    {
        Alive();
        Peeks++;
        if (Inbound.Count > 0)
            return Inbound.Peek().Data.Length;
        if (EndlessSizes is not null)
            return EndlessSizes[endlessNext % EndlessSizes.Length];
        return InboundEof ? HostStreamResult.EndOfStream : HostStreamResult.WouldBlock;
    }

    public long ReceiveMessage(ReadOnlySpan<IoVec> into, out bool endOfRecord)
    {
        Alive();
        endOfRecord = false;
        if (Inbound.Count == 0 && EndlessSizes is not null)
        {
            int size = EndlessSizes[endlessNext++ % EndlessSizes.Length];
            TestPattern.CopyTo(into, 0, (long)Math.Min((ulong)size, ScatterIo.TotalLength(into)));
            return size;
        }

        if (Inbound.Count == 0)
            return InboundEof ? HostStreamResult.EndOfStream : HostStreamResult.WouldBlock;
        (byte[] data, bool eor) = Inbound.Dequeue();
        int n = (int)Math.Min((ulong)data.Length, ScatterIo.TotalLength(into));
        ScatterIo.Scatter(into, 0, data.AsSpan(0, n));
        endOfRecord = eor;
        return data.Length;
    }
}

/// <summary>A scripted host socket that also gives a message in pieces (as a direct link does): the
/// message stays in <see cref="FakeHostMessages.Inbound"/> until its last piece was taken.</summary>
internal sealed class FakeHostPieces : FakeHostMessages, IHostMessagePieces
{
    private int taken;

    /// <summary>Pieces handed out.</summary>
    public int PiecesRead { get; private set; }

    public long ReceivePiece(ReadOnlySpan<IoVec> into, out bool endOfMessage, out bool endOfRecord)
    {
        endOfMessage = endOfRecord = false;
        if (Inbound.Count == 0)
            return InboundEof ? HostStreamResult.EndOfStream : HostStreamResult.WouldBlock;
        (byte[] data, bool eor) = Inbound.Peek();
        int n = (int)Math.Min((ulong)(data.Length - taken), ScatterIo.TotalLength(into));
        ScatterIo.Scatter(into, 0, data.AsSpan(taken, n));
        taken += n;
        PiecesRead++;
        if (taken < data.Length)
            return n;
        Inbound.Dequeue();
        taken = 0;
        endOfMessage = true;
        endOfRecord = eor;
        return n;
    }
}
