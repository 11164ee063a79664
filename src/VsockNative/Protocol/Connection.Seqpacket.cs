using System;
using System.Buffers;
using VsockNative.Wire;
using VsockNative.Diagnostics;

namespace VsockNative.Protocol;

// SEQPACKET (virtio 1.3 §5.10.6, VIRTIO_VSOCK_F_SEQPACKET): the stream state machine and credit,
// plus message boundaries. On RW, VIRTIO_VSOCK_SEQ_EOM marks the last packet of a message and
// VIRTIO_VSOCK_SEQ_EOR a record end the sender asked for (MSG_EOR).
//
// Guest -> host: packets are gathered at the tail of the TxBuffer until EOM, then the whole message
// goes to the host with one sendmsg (a message in a single RW with EOM goes straight from guest
// memory when nothing waits before it). Messages the host cannot take yet wait in order
// (MessageQueue). fwd_cnt advances when the host took a whole message, so a message is bounded by
// buf_alloc (a larger one resets the connection).
//
// Host -> guest: one host message per recvmsg (no peek: what the rx buffer cannot take lands in a
// HostMessageBuffer behind it, and the real length says whether it was too large); it goes out as one or more
// RW packets, each within the rx buffer and the guest's credit, EOM (and EOR) on the last. What does
// not fit the first rx buffer waits in a HostMessageBuffer (or, over a host stream that gives a
// message in pieces, where it is: IHostMessagePieces); no other message starts before it is out.
public sealed partial class Connection
{
    private const uint Eom = (uint)VirtioVsockRw.Eom;
    private const uint Eor = (uint)VirtioVsockRw.Eor;
    private const long EMsgSize = -90;

    private IHostMessageStream? messages;
    private readonly MessageQueue toHost = new();
    private readonly HostMessageBuffer h2gRest = new();

    /// <summary>The host stream gives a message in pieces (a direct link): no copy into h2gRest.</summary>
    private IHostMessagePieces? pieces;

    /// <summary>Over <see cref="pieces"/>: a message has been started and this many bytes of it remain.</summary>
    private bool pieceOpen;
    private uint pieceLeft;

    /// <summary>The seqpacket state of a new (or recycled) connection: nothing queued or started.</summary>
    private void InitMessages()
    {
        toHost.Reset();
        h2gRest.Clear();
        pieceOpen = false;
        pieceLeft = 0;
        partialLength = 0;
    }

    /// <summary>The rest of a host message waits to go to the guest.</summary>
    private bool MessageRestWaits => !h2gRest.IsEmpty || pieceOpen;

    /// <summary>Forgets the rest of a host message (the guest takes no more, or the host is closed).</summary>
    private void ForgetMessageRest()
    {
        h2gRest.Clear();
        pieceOpen = false;
    }

    /// <summary>Bytes of the guest message being gathered (the newest bytes of the TxBuffer).</summary>
    private uint partialLength;

    /// <summary>Guest data waits for the host: buffered bytes (stream) or complete messages (seqpacket;
    /// a message still being gathered waits for the guest, not the host).</summary>
    private bool QueuedToHost => messages is null ? !txBuffer.IsEmpty : !toHost.IsEmpty;

    internal bool HoldsH2gArray => h2gRest.HoldsArray;

    /// <summary>A seqpacket guest message would exceed buf_alloc: it can never be taken whole.</summary>
    private bool OversizeFromGuest(uint len)
    {
        if (messages is null || (ulong)partialLength + len <= bufAlloc)
            return false;
        Oversize();
        return true;
    }

    /// <summary>One RW of a seqpacket connection, within credit (rx_cnt already counts it).</summary>
    private void OnGuestMessageData(uint len, uint flags, ReadOnlySpan<IoVec> payload, long nowMs)
    {
        bool eom = (flags & Eom) != 0;
        bool eor = (flags & Eor) != 0;
        if (eom && toHost.IsFull)
        {
            counters.MessageQueueOverflows++;
            BeginReset(EndReason.MessageQueueOverflow);
            return;
        }

        if (eom && partialLength == 0 && toHost.IsEmpty)
        {
            // The whole message is in this packet and nothing waits before it: straight from guest memory.
            long n = messages!.SendMessage(payload, eor);
            if (n == len)
            {
                MessageToHost(len, eor);
                return;
            }

            if (n != HostStreamResult.WouldBlock)
            {
                HostMessageFailed(n, nowMs);
                Drop(len);
                return;
            }

            counters.HostShortWrites++;
        }

        if (len > 0)
        {
            txBuffer.Append(payload, 0, (int)len);
            counters.BytesBuffered += len;
        }

        partialLength += len;
        if (!eom)
            return;
        toHost.Enqueue(partialLength, eor);
        partialLength = 0;
        FlushMessages(nowMs);
    }

    /// <summary>Complete messages to the host, oldest first, one sendmsg each, until it would block.</summary>
    private void FlushMessages(long nowMs)
    {
        while (!toHost.IsEmpty && !hostClosed && (localShutdown & ShutRcv) == 0)
        {
            (uint length, bool eor) = toHost.Peek();
            long n = txBuffer.WriteMessageTo(messages!, (int)length, eor);
            if (n == length)
            {
                toHost.Dequeue();
                MessageToHost(length, eor);
                continue;
            }

            if (n == HostStreamResult.WouldBlock)
            {
                counters.HostShortWrites++;
                break;
            }

            HostMessageFailed(n, nowMs);
            return;
        }

        ShutHostWriteIfDrained();
    }

    private void MessageToHost(uint length, bool eor)
    {
        Forwarded(length);
        counters.MessagesToHost++;
        if (eor)
            counters.RecordEndsToHost++;
    }

    /// <summary>-EMSGSIZE: the host socket can never take this message; anything else: the host is broken.</summary>
    private void HostMessageFailed(long result, long nowMs)
    {
        if (result == EMsgSize)
            Oversize();
        else
            HostWriteFailed(nowMs); // an errno, or a partial count (a broken contract)
    }

    private void Oversize()
    {
        counters.OversizeMessages++;
        BeginReset(EndReason.OversizeMessage);
    }

    /// <summary>The guest shut SEND in the middle of a message: it will never be complete.</summary>
    private void DropPartialMessage()
    {
        if (partialLength == 0)
            return;
        txBuffer.Truncate((int)partialLength);
        Drop(partialLength);
        partialLength = 0;
    }

    /// <summary>Forgets every guest byte not yet taken by the host (buffered bytes, queued and partial
    /// messages); returns how many there were.</summary>
    private int ClearToHost()
    {
        toHost.Clear();
        partialLength = 0;
        return txBuffer.Clear();
    }

    /// <summary>Host -> guest for seqpacket: the rest of the current message, or the next message.</summary>
    private uint ReadHostMessageInto(ReadOnlySpan<IoVec> rxBuffer, ulong room, long nowMs)
    {
        uint first = (uint)Math.Min(room - HeaderSize, PeerFree);
        if (pieceOpen)
            return ReadMessagePiece(rxBuffer, first, nowMs);
        if (!h2gRest.IsEmpty)
        {
            uint n = Math.Min(first, (uint)h2gRest.Remaining);
            bool last = n == h2gRest.Remaining;
            uint flags = last ? Eom | (h2gRest.Eor ? Eor : 0) : 0;
            h2gRest.CopyTo(rxBuffer, HeaderSize, (int)n);
            return SentData(rxBuffer, n, flags, last);
        }

        if (pieces is not null)
            return OpenMessagePiece(rxBuffer, first, nowMs);

        // One recvmsg, no peek: the message goes into the rx buffer, and what the buffer or the
        // credit cannot take now into a rented array behind it, as large as the largest message
        // allowed; the real length comes back even when the message was larger.
        uint largest = LargestMessage;
        uint direct = Math.Min(first, largest);
        IoVec[]? rented = null;
        Span<IoVec> scratch = rxBuffer.Length < StackSegments
            ? stackalloc IoVec[StackSegments]
            : (rented = ArrayPool<IoVec>.Shared.Rent(rxBuffer.Length + 1));
        int count = IoVecRange.Take(rxBuffer, HeaderSize, direct, scratch);
        if (largest > direct)
            scratch[count++] = h2gRest.Rent((int)(largest - direct));
        long size = messages!.ReceiveMessage(scratch[..count], out bool eor);
        if (rented is not null)
            ArrayPool<IoVec>.Shared.Return(rented);

        if (size > direct && size <= largest)
        {
            h2gRest.Filled((int)(size - direct), eor);
            return SentData(rxBuffer, direct, 0, false);
        }
        h2gRest.Clear();  // nothing waits behind the rx buffer
        if (size < 0)
            return NoMessage(size, nowMs);
        if (size > largest)
        {
            Oversize(); // the guest could never hold it whole (Linux refuses a message beyond its buf_alloc)
            return 0;
        }
        return SentData(rxBuffer, (uint)size, Eom | (eor ? Eor : 0), true);
    }

    /// <summary>The largest message either side can hold whole (a larger one resets the connection).</summary>
    private uint LargestMessage => Math.Min(bufAlloc, peerBufAlloc);

    /// <summary>No message was read: the host stream is empty for now, ended or broken.</summary>
    private uint NoMessage(long result, long nowMs)
    {
        if (result == HostStreamResult.WouldBlock)
            hostReadable = false;
        else
            HostReadEnded(failed: result != HostStreamResult.EndOfStream, nowMs);
        return 0;
    }

    /// <summary>A host that hands out messages in pieces: the next message's length first (a peek),
    /// then its first piece.</summary>
    private uint OpenMessagePiece(ReadOnlySpan<IoVec> rxBuffer, uint first, long nowMs)
    {
        long size = messages!.PeekMessage();
        if (size < 0)
            return NoMessage(size, nowMs);
        if (size > LargestMessage)
        {
            Oversize();
            return 0;
        }

        pieceOpen = true;
        pieceLeft = (uint)size;
        return ReadMessagePiece(rxBuffer, first, nowMs);
    }

    /// <summary>The next piece of the current host message straight into the rx buffer (as much as the
    /// buffer and the credit allow), EOM (and EOR) on the last.</summary>
    private uint ReadMessagePiece(ReadOnlySpan<IoVec> rxBuffer, uint first, long nowMs)
    {
        uint n = Math.Min(first, pieceLeft);
        IoVec[]? rented = null;
        Span<IoVec> scratch = rxBuffer.Length <= StackSegments
            ? stackalloc IoVec[StackSegments]
            : (rented = ArrayPool<IoVec>.Shared.Rent(rxBuffer.Length));
        int count = IoVecRange.Take(rxBuffer, HeaderSize, n, scratch);
        long got = pieces!.ReceivePiece(scratch[..count], out bool eom, out bool eor);
        if (rented is not null)
            ArrayPool<IoVec>.Shared.Return(rented);

        bool last = n == pieceLeft;
        if (got != n || eom != last)
        {
            pieceOpen = false;
            HostReadEnded(failed: true, nowMs); // an error, or not the message peeked: broken
            return 0;
        }

        pieceLeft -= n;
        pieceOpen = !last;
        return SentData(rxBuffer, n, last ? Eom | (eor ? Eor : 0) : 0, last);
    }
}
