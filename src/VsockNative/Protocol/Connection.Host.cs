using System;
using VsockNative.Interop.Native;
using VsockNative.Wire;
using VsockNative.Diagnostics;

namespace VsockNative.Protocol;

// The host stream side: guest data out, host events in, closing and resetting, timers.
public sealed partial class Connection
{
    /// <summary>The host stream became readable (epoll IN). Data is read later, by <see cref="FillRx"/>,
    /// straight into a guest buffer.</summary>
    /// <param name="nowMs">Monotonic time in milliseconds.</param>
    public void OnHostReadable(long nowMs)
    {
        if (state is ConnState.Connecting or ConnState.Accepting or ConnState.Established && !hostClosed && !H2gClosed)
            hostReadable = true;
    }

    /// <summary>The host stream became writable (epoll OUT): buffered guest data is flushed.</summary>
    /// <param name="nowMs">Monotonic time in milliseconds.</param>
    public void OnHostWritable(long nowMs)
    {
        FlushTx(nowMs);
        OfferCreditIfLow();
        TryFinishClosing();
    }

    /// <summary>The host stream hung up (epoll HUP or ERR): it takes no more data. What it sent before
    /// is still read and delivered, then the guest gets SHUTDOWN(RCV|SEND). Idempotent. Epoll reports
    /// HUP whatever the interest set; the muxer should stop watching the fd after this call (reading
    /// goes on from <see cref="FillRx"/>).</summary>
    /// <param name="nowMs">Monotonic time in milliseconds.</param>
    public void OnHostHangup(long nowMs)
    {
        if (hostHungUp || hostClosed || state is ConnState.Resetting or ConnState.Closed)
            return;
        if (state == ConnState.Connecting)
        {
            // The host may have closed gracefully right after writing (a CONNECT line and data,
            // then close): what it wrote is the guest's. The hangup takes effect once the guest
            // accepts (delivered, then SHUTDOWN, as a TCP server reads data then EOF); a refusal
            // or the connect timeout ends the connection as usual.
            hangupWhileConnecting = true;
            return;
        }
        counters.HostHangups++;
        hostHungUp = true;

        Drop(ClearToHost()); // cannot be delivered any more
        if (!G2hClosed)
        {
            localShutdown |= ShutRcv;
            pending |= PendingReply.Shutdown;
        }

        if (!H2gClosed)
            hostReadable = true; // drain until EOF
        DirectionsChanged(byGuest: false, nowMs);
        TryFinishClosing();
    }

    /// <summary>Fires the connect or close timeout once <paramref name="nowMs"/> reached <see cref="DeadlineMs"/>.</summary>
    /// <param name="nowMs">Monotonic time in milliseconds.</param>
    public void OnTimer(long nowMs)
    {
        if (nowMs < deadline)
            return;
        deadline = long.MaxValue;
        if (state == ConnState.Connecting)
        {
            counters.ConnectTimeouts++;
            BeginReset(EndReason.ConnectTimeout);
        }
        else if (state == ConnState.Closing)
        {
            counters.CloseTimeouts++;
            BeginReset(EndReason.CloseTimeout);
        }
    }

    /// <summary>Guest bytes go straight from guest memory to the host; what it does not take is buffered.</summary>
    private void WriteToHost(ReadOnlySpan<IoVec> payload, uint len, long nowMs)
    {
        if (len == 0)
            return;
        if (!txBuffer.IsEmpty)
            FlushTx(nowMs); // older bytes first
        if ((localShutdown & ShutRcv) != 0)
        {
            Drop(len); // the flush just found the host broken
            return;
        }

        if (!txBuffer.IsEmpty)
        {
            Buffer(payload, 0, len);
            return;
        }

        long n = host.Write(payload);
        if (n == len)
        {
            Forwarded(len);
        }
        else if (n == HostStreamResult.WouldBlock || (n >= 0 && n < len))
        {
            uint taken = n > 0 ? (uint)n : 0;
            Forwarded(taken);
            Buffer(payload, taken, len - taken);
        }
        else
        {
            HostWriteFailed(nowMs); // an errno, or more than offered (a broken stream)
            Drop(len);
        }
    }

    private void Buffer(ReadOnlySpan<IoVec> payload, uint offset, uint length)
    {
        counters.HostShortWrites++;
        counters.BytesBuffered += length;
        txBuffer.Append(payload, (int)offset, (int)length);
    }

    /// <summary>One writev of everything buffered.</summary>
    private void FlushTx(long nowMs)
    {
        if (messages is not null)
        {
            FlushMessages(nowMs);
            return;
        }

        if (txBuffer.IsEmpty || hostClosed || (localShutdown & ShutRcv) != 0)
            return;
        int before = txBuffer.Count;
        long n = txBuffer.WriteTo(host);
        if (n > 0 && n <= before)
        {
            Forwarded((uint)n);
            if (n < before)
                counters.HostShortWrites++;
        }
        else if (n == HostStreamResult.WouldBlock || n == 0)
        {
            counters.HostShortWrites++;
        }
        else
        {
            HostWriteFailed(nowMs);
        }

        ShutHostWriteIfDrained();
    }

    /// <summary>The host takes no more data: the guest is told SHUTDOWN(RCV); its data is dropped from now on.</summary>
    private void HostWriteFailed(long nowMs)
    {
        counters.HostErrors++;
        Drop(ClearToHost());
        if ((localShutdown & ShutRcv) == 0)
        {
            localShutdown |= ShutRcv;
            pending |= PendingReply.Shutdown;
        }

        DirectionsChanged(byGuest: false, nowMs);
    }

    /// <summary>The host sends no more data (EOF, or a read failure that also ends the other direction).</summary>
    private void HostReadEnded(bool failed, long nowMs)
    {
        hostReadable = false;
        if (failed)
        {
            counters.HostErrors++;
            Drop(ClearToHost());
            localShutdown |= ShutRcv;
        }

        localShutdown |= ShutSend;
        pending |= PendingReply.Shutdown;
        DirectionsChanged(byGuest: false, nowMs);
    }

    /// <summary>The guest shut SEND: once everything it sent reached the host, shut the host's write side.</summary>
    private void ShutHostWriteIfDrained()
    {
        if ((guestShutdown & ShutSend) == 0 || !txBuffer.IsEmpty || hostClosed || hostWriteShut || hostHungUp)
            return;
        hostWriteShut = true;
        CountHostResult(host.Shutdown(read: false, write: true));
    }

    /// <summary>Called whenever a direction ends: both ended means Closing.</summary>
    private void DirectionsChanged(bool byGuest, long nowMs)
    {
        if (!G2hClosed || !H2gClosed)
            return;
        if (state == ConnState.Established)
        {
            state = ConnState.Closing;
            deadline = AddMs(nowMs, limits.CloseTimeoutMs);
        }

        if (state != ConnState.Closing)
            return;
        if (byGuest)
            rstOnDrain = true; // the guest closed last and waits for our RST
        TryFinishClosing();
    }

    /// <summary>Closing, and the host has everything: either send our RST (the guest closed last), or
    /// close the host stream and tell the guest RCV|SEND so that it answers with RST.</summary>
    private void TryFinishClosing()
    {
        if (state != ConnState.Closing || !txBuffer.IsEmpty)
            return;
        if (rstOnDrain)
        {
            BeginReset(EndReason.Graceful);
            return;
        }

        CloseHost();
        if (!ShutdownSentInFull)
            pending |= PendingReply.Shutdown;
    }

    /// <summary>Our RST becomes owed; the host stream is closed at once; buffered data is dropped.</summary>
    private void BeginReset(EndReason reason)
    {
        if (state is ConnState.Resetting or ConnState.Closed)
            return;
        SetEnd(reason);
        if (state is ConnState.Connecting or ConnState.Accepting)
            outcome = reason == EndReason.ConnectTimeout ? ConnectOutcome.TimedOut : ConnectOutcome.Refused;
        CloseHost();
        deadline = long.MaxValue;
        if (state == ConnState.Connecting && (pending & PendingReply.Request) != 0)
        {
            // The guest never saw our REQUEST: an RST would be noise.
            pending = PendingReply.None;
            state = ConnState.Closed;
            return;
        }

        pending = PendingReply.Rst;
        state = ConnState.Resetting;
    }

    /// <summary>Done without sending anything more.</summary>
    private void Finish()
    {
        CloseHost();
        pending = PendingReply.None;
        deadline = long.MaxValue;
        state = ConnState.Closed;
    }

    private void CloseHost()
    {
        Drop(ClearToHost());
        ForgetMessageRest();
        hostReadable = false;
        if (hostClosed)
            return;
        hostClosed = true;
        host.Close();
    }

    private void Forwarded(uint n)
    {
        fwdCnt = unchecked(fwdCnt + n);
        counters.BytesToHost += n;
    }

    /// <summary>Bytes that will never reach the host still count as consumed, so credit stays exact.</summary>
    private void Drop(int n) => Drop((uint)n);

    private void Drop(uint n)
    {
        fwdCnt = unchecked(fwdCnt + n);
        counters.BytesDropped += n;
    }

    /// <summary>Linux-like unsolicited CREDIT_UPDATE (BEHAVIOUR.md, "No unidirectional stall").</summary>
    private void OfferCreditIfLow()
    {
        if (state != ConnState.Established || G2hClosed)
            return;
        uint realFree = unchecked(bufAlloc - (rxCnt - ConsumedCnt));
        if (AdvertisedFree < creditThreshold && realFree >= creditThreshold)
            pending |= PendingReply.CreditUpdate;
    }

    private void SetEnd(EndReason reason)
    {
        if (endReason == EndReason.None)
            endReason = reason;
    }

    private void CountHostResult(int result)
    {
        if (result < 0)
            counters.HostErrors++;
    }
}
