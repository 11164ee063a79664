using System;
using System.Buffers;
using VsockNative.Wire;
using VsockNative.Diagnostics;

namespace VsockNative.Protocol;

// Packets to the guest: one per rx buffer, control replies first in fixed priority, then data.
public sealed partial class Connection
{
    private const int StackSegments = 16;

    /// <summary>Writes ONE packet (44-byte header, then payload) into the guest's writable buffer,
    /// which may be split at any byte. Control replies first, in the order RST, REQUEST/RESPONSE,
    /// SHUTDOWN, CREDIT_UPDATE, CREDIT_REQUEST; otherwise data read from the host stream straight into
    /// the buffer behind the header, at most the guest's credit. A buffer shorter than 44 bytes gets
    /// nothing; a buffer of exactly 44 bytes gets control packets only.</summary>
    /// <param name="rxBuffer">The guest's writable buffer.</param>
    /// <param name="nowMs">Monotonic time in milliseconds.</param>
    /// <returns>Bytes written, header included; 0 if nothing was written (the buffer is unused).</returns>
    public uint FillRx(ReadOnlySpan<IoVec> rxBuffer, long nowMs)
    {
        ulong room = ScatterIo.TotalLength(rxBuffer);
        if (room < HeaderSize || state == ConnState.Closed)
            return 0;

        PendingReply next = NextControl();
        if (next != PendingReply.None)
            return WriteControl(next, rxBuffer);
        if (!CanSendData || room == HeaderSize)
            return 0;

        uint sent = messages is null ? ReadHostInto(rxBuffer, room, nowMs) : ReadHostMessageInto(rxBuffer, room, nowMs);
        if (sent != 0)
            return sent;

        // EOF or a host failure may just have made a SHUTDOWN due.
        next = NextControl();
        return next != PendingReply.None ? WriteControl(next, rxBuffer) : 0;
    }

    private PendingReply NextControl()
    {
        if ((pending & PendingReply.Rst) != 0)
            return PendingReply.Rst;
        if ((pending & PendingReply.Request) != 0)
            return PendingReply.Request;
        if ((pending & PendingReply.Response) != 0)
            return PendingReply.Response;
        if ((pending & PendingReply.Shutdown) != 0)
            return PendingReply.Shutdown;
        if ((pending & PendingReply.CreditUpdate) != 0)
            return PendingReply.CreditUpdate;
        return NeedCreditRequest ? PendingReply.CreditRequest : PendingReply.None;
    }

    private uint WriteControl(PendingReply reply, ReadOnlySpan<IoVec> rxBuffer)
    {
        pending &= ~reply;
        switch (reply)
        {
            case PendingReply.Rst:
                WriteHeader(rxBuffer, VirtioVsockOp.Rst, 0, 0);
                counters.ResetsSent++;
                pending = PendingReply.None;
                state = ConnState.Closed;
                break;
            case PendingReply.Request:
                WriteHeader(rxBuffer, VirtioVsockOp.Request, 0, 0);
                break;
            case PendingReply.Response:
                WriteHeader(rxBuffer, VirtioVsockOp.Response, 0, 0);
                state = ConnState.Established;
                outcome = ConnectOutcome.Established;
                break;
            case PendingReply.Shutdown:
                // Cumulative: what the host side ended; RCV|SEND once everything is over, so that a
                // Linux guest answers with RST.
                uint flags = localShutdown;
                if (G2hClosed && H2gClosed && txBuffer.IsEmpty)
                    flags = ShutRcv | ShutSend;
                WriteHeader(rxBuffer, VirtioVsockOp.Shutdown, 0, flags);
                sentShutdown = flags;
                counters.ShutdownsSent++;
                break;
            case PendingReply.CreditUpdate:
                WriteHeader(rxBuffer, VirtioVsockOp.CreditUpdate, 0, 0);
                counters.CreditUpdatesSent++;
                break;
            default: // CreditRequest
                WriteHeader(rxBuffer, VirtioVsockOp.CreditRequest, 0, 0);
                creditRequested = true;
                counters.CreditRequestsSent++;
                break;
        }

        return HeaderSize;
    }

    /// <summary>readv from the host into the buffer behind the header; the header is written after,
    /// once the length is known. Returns the packet size, or 0 (nothing written).</summary>
    private uint ReadHostInto(ReadOnlySpan<IoVec> rxBuffer, ulong room, long nowMs)
    {
        ulong limit = Math.Min(room - HeaderSize, PeerFree);
        IoVec[]? rented = null;
        Span<IoVec> scratch = rxBuffer.Length <= StackSegments
            ? stackalloc IoVec[StackSegments]
            : (rented = ArrayPool<IoVec>.Shared.Rent(rxBuffer.Length));
        int count = IoVecRange.Take(rxBuffer, HeaderSize, limit, scratch);
        long n = host.Read(scratch[..count], PeerFree - limit); // read ahead at most the credit left
        if (rented is not null)
            ArrayPool<IoVec>.Shared.Return(rented);

        if (n > 0 && (ulong)n <= limit)
            return SentData(rxBuffer, (uint)n, 0, false);

        if (n == HostStreamResult.WouldBlock)
            hostReadable = false;
        else
            HostReadEnded(failed: n != 0, nowMs); // 0 = EOF; an errno or more than asked = broken
        return 0;
    }

    /// <summary>The RW header for <paramref name="len"/> bytes already behind it; returns the packet size.</summary>
    private uint SentData(ReadOnlySpan<IoVec> rxBuffer, uint len, uint flags, bool endOfMessage)
    {
        WriteHeader(rxBuffer, VirtioVsockOp.Rw, len, flags);
        txCnt = unchecked(txCnt + len);
        counters.DataPacketsToGuest++;
        counters.BytesToGuest += len;
        if (endOfMessage)
            counters.MessagesToGuest++;
        if ((flags & (uint)VirtioVsockRw.Eor) != 0)
            counters.RecordEndsToGuest++;
        return HeaderSize + len;
    }

    /// <summary>Every packet we send carries our buf_alloc and fwd_cnt; the guest now knows fwd_cnt.</summary>
    private void WriteHeader(ReadOnlySpan<IoVec> rxBuffer, VirtioVsockOp op, uint len, uint flags)
    {
        uint consumed = ConsumedCnt;
        new PacketHeader(Key.HostCid, Key.GuestCid, Key.HostPort, Key.GuestPort, len, (ushort)type,
            (ushort)op, flags, bufAlloc, consumed).Write(rxBuffer);
        lastSentFwdCnt = consumed;
        counters.PacketsToGuest++;
    }
}
