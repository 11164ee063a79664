using System;
using VsockNative.Wire;

namespace VsockNative.Protocol;

// Guest packets: validation, then the one transition switch on (state, op).
public sealed partial class Connection
{
    /// <summary>Handles one guest packet for this connection (everything except the REQUEST that
    /// created it). The header is the muxer's private copy; <paramref name="payload"/> is the bytes that
    /// follow it in the chain. Data is written to the host stream before this returns, or buffered.</summary>
    /// <param name="h">The decoded header.</param>
    /// <param name="payload">The payload bytes in guest memory (exactly <c>h.Len</c> of them, else malformed).</param>
    /// <param name="nowMs">Monotonic time in milliseconds.</param>
    public void OnGuestPacket(in PacketHeader h, ReadOnlySpan<IoVec> payload, long nowMs)
    {
        if (state == ConnState.Closed)
        {
            counters.PacketsIgnored++;
            return;
        }

        counters.PacketsFromGuest++;
        ulong payloadLength = ScatterIo.TotalLength(payload);
        PacketFault fault = payloadLength > uint.MaxValue ? PacketFault.LenMismatch : PacketRules.Check(h, (uint)payloadLength);
        bool rst = h.Op == (ushort)VirtioVsockOp.Rst;
        if (fault != PacketFault.None || h.Type != (ushort)type)
        {
            if (rst)
            {
                // A RST is never answered, not even a malformed one: it ends the connection as a
                // RST does, and the fault is counted (BEHAVIOUR.md, "Faults").
                counters.Malformed++;
                if (lastFault == PacketFault.None)
                    lastFault = fault == PacketFault.None ? PacketFault.UnsupportedType : fault;
                OnGuestRst(nowMs);
            }
            else if (fault != PacketFault.None)
                Malformed(fault);
            else
                WrongType();
            return;
        }

        TakePeerCredit(h);
        Transition(h, payload, nowMs);
    }

    /// <summary>The transition table (BEHAVIOUR.md, "Transitions"). Arms are tried in order.</summary>
    private void Transition(in PacketHeader h, ReadOnlySpan<IoVec> payload, long nowMs)
    {
        switch (state, (VirtioVsockOp)h.Op)
        {
            case (_, VirtioVsockOp.Rst):
                OnGuestRst(nowMs);
                break;
            case (ConnState.Resetting, _):
                counters.PacketsIgnored++; // our RST is owed; nothing else matters any more
                break;
            case (_, VirtioVsockOp.Request):
                counters.DuplicateRequests++;
                BeginReset(EndReason.DuplicateRequest);
                break;
            case (ConnState.Connecting, VirtioVsockOp.Response):
                state = ConnState.Established;
                outcome = ConnectOutcome.Established;
                deadline = long.MaxValue;
                if (hangupWhileConnecting) OnHostHangup(nowMs);
                break;
            case (ConnState.Established or ConnState.Closing, VirtioVsockOp.Rw):
                OnGuestData(h.Len, h.Flags, payload, nowMs);
                break;
            case (ConnState.Established or ConnState.Closing, VirtioVsockOp.Shutdown):
                OnGuestShutdown(h.Flags, nowMs);
                break;
            case (ConnState.Accepting or ConnState.Established or ConnState.Closing, VirtioVsockOp.CreditUpdate):
                counters.CreditUpdatesReceived++; // the credit itself was taken from the header
                break;
            case (ConnState.Accepting or ConnState.Established or ConnState.Closing, VirtioVsockOp.CreditRequest):
                counters.CreditRequestsReceived++;
                pending |= PendingReply.CreditUpdate;
                break;
            default:
                Unexpected();
                break;
        }
    }

    /// <summary>Every guest packet carries its buf_alloc and fwd_cnt.</summary>
    private void TakePeerCredit(in PacketHeader h)
    {
        peerBufAlloc = h.BufAlloc;
        peerFwdCnt = h.FwdCnt;
        if (PeerFree > 0)
            creditRequested = false; // credit arrived: a later stall may ask again
    }

    private void OnGuestRst(long nowMs)
    {
        counters.ResetsReceived++;
        pending = PendingReply.None;
        switch (state)
        {
            case ConnState.Connecting:
                SetEnd(EndReason.Refused);
                outcome = ConnectOutcome.Refused;
                Finish();
                break;
            case ConnState.Accepting:
                SetEnd(EndReason.GuestReset);
                outcome = ConnectOutcome.Refused;
                Finish();
                break;
            case ConnState.Established:
                SetEnd(EndReason.GuestReset);
                FlushTx(nowMs); // one last non-blocking attempt; an abort does not wait for the host
                Finish();
                break;
            case ConnState.Closing:
                // The answer to our SHUTDOWN(RCV|SEND), which is only sent once the buffer is empty;
                // if the guest reset earlier (its own timeout), one last attempt, then done.
                SetEnd(EndReason.Graceful);
                FlushTx(nowMs);
                Finish();
                break;
            default: // Resetting: the guest reset too; ours is no longer needed
                Finish();
                break;
        }
    }

    private void OnGuestData(uint len, uint flags, ReadOnlySpan<IoVec> payload, long nowMs)
    {
        counters.DataPacketsFromGuest++;
        counters.BytesFromGuest += len;
        if ((guestShutdown & ShutSend) != 0)
        {
            Unexpected(); // data after the guest's own SHUTDOWN(SEND)
            return;
        }

        if (OversizeFromGuest(len))
            return;
        if (len > AdvertisedFree)
        {
            counters.CreditViolations++;
            BeginReset(EndReason.CreditViolation);
            return;
        }

        rxCnt = unchecked(rxCnt + len);
        if ((localShutdown & ShutRcv) != 0 || hostClosed)
        {
            Drop(len); // the host takes no more; the guest was (or is being) told with SHUTDOWN(RCV)
            return;
        }

        if (messages is null)
            WriteToHost(payload, len, nowMs);
        else
            OnGuestMessageData(len, flags, payload, nowMs);
        OfferCreditIfLow();
    }

    private void OnGuestShutdown(uint flags, long nowMs)
    {
        counters.ShutdownsReceived++;
        uint added = flags & ~guestShutdown;
        guestShutdown |= flags;
        if ((added & ShutRcv) != 0)
        {
            hostReadable = false;
            ForgetMessageRest(); // the guest takes no more
            if (!hostClosed && !hostReadShut)
            {
                hostReadShut = true;
                CountHostResult(host.Shutdown(read: true, write: false));
            }
        }

        if ((added & ShutSend) != 0)
        {
            DropPartialMessage(); // seqpacket: a message without its EOM will never be complete
            ShutHostWriteIfDrained();
        }
        DirectionsChanged(byGuest: true, nowMs);
    }

    private void Malformed(PacketFault fault)
    {
        counters.Malformed++;
        if (lastFault == PacketFault.None)
            lastFault = fault;
        BeginReset(EndReason.Malformed);
    }

    private void WrongType()
    {
        counters.Malformed++;
        BeginReset(EndReason.UnsupportedType);
    }

    private void Unexpected()
    {
        counters.UnexpectedOps++;
        BeginReset(EndReason.UnexpectedOp);
    }
}
