using System;
using VsockNative.Connections;
using VsockNative.Interop;
using VsockNative.Protocol;
using VsockNative.Virtqueue;
using VsockNative.Wire;

namespace VsockNative.Device;

// The device's side of the connection layer: tx packets go to the muxer, the muxer's packets go
// into rx buffers, and the muxer's fds live in the device's epoll.
internal sealed partial class VsockDevice : IPollRegistry
{
    private Muxer _muxer = null!;
    private DescriptorChain _rxChain = null!;
    private IoVec[] _payload = null!;

    private void InitConnections()
    {
        _rxChain = new DescriptorChain(MaxSegments);
        _payload = new IoVec[MaxSegments];
        _muxer = new Muxer(Options.GuestCid, new MuxerOptions
        {
            UdsPath = Options.UdsPath,
            MaxConnections = (int)Math.Min(Options.MaxConnections, int.MaxValue),
            Limits = new ConnectionLimits { BufAlloc = Options.BufAlloc },
        }, this, Log);
    }

    private static long NowMs => Environment.TickCount64;

    int IPollRegistry.Add(int fd, ulong tag, uint events) => _epoll.Add(fd, tag, events);
    int IPollRegistry.Modify(int fd, ulong tag, uint events) => _epoll.Modify(fd, tag, events);
    int IPollRegistry.Remove(int fd) => _epoll.Remove(fd);

    public MuxerCounters ConnectionCounters
    {
        get { lock (_gate) return _muxer.Counters; }
    }

    /// <summary>The per-connection counters of every freed connection, added up.</summary>
    public ConnectionCounters EndedConnectionCounters
    {
        get { lock (_gate) return _muxer.EndedCounters; }
    }

    /// <summary>Snapshots up to <c>destination.Length</c> connections; returns how many there are.</summary>
    public int ConnectionSnapshot(Span<ConnectionInfo> destination)
    {
        lock (_gate) return _muxer.Snapshot(destination);
    }

    /// <summary>A well-formed tx packet (header copied once, length checked): to its connection.</summary>
    private void DeliverTxPacket(ReadOnlySpan<byte> header, DescriptorChain chain, uint payloadLength, uint slot)
    {
        var h = PacketHeader.Read(header);
        int n = IoVecRange.Take(chain.Readable, VirtioVsockHdr.Size, payloadLength, _payload);
        if (RouteDatagram(h, _payload.AsSpan(0, n), slot)) return;
        _muxer.OnGuestPacket(h, _payload.AsSpan(0, n), NowMs);
    }

    /// <summary>An rx chain popped but not filled (the muxer had nothing after all): used next time
    /// instead of returning a zero-length buffer to the driver.</summary>
    private bool _rxHeld;

    /// <summary>Fills rx buffers while the muxer (or, on the shared queue, the datagram layer) has packets for the guest.</summary>
    private void ProcessRx()
    {
        if (_configured[QueueIndex.Rx] && RxPending(QueueSlot.Rx)) FillRxQueue(QueueSlot.Rx, _rxChain, ref _rxHeld);
    }

    /// <summary>Whether packets wait for buffers of a device-writable queue (rx, or the datagram rx queue).</summary>
    private bool RxPending(uint slot) => slot == QueueSlot.DgramRx ? _dgram.HasPendingRx : _muxer.HasPendingRx || SharedDatagramsPending;

    /// <summary>Writes packets into the buffers of an rx queue while there are both. A chain popped but
    /// not filled is held (<paramref name="held"/>) for the next packet.</summary>
    private void FillRxQueue(uint slot, DescriptorChain chain, ref bool held)
    {
        var queue = _queues[slot];
        long now = NowMs;
        int sincePublish = 0;
        while (RxPending(slot))
        {
            if (!held && !PopWritable(queue, chain, slot)) break;
            held = true;
            uint written = slot == QueueSlot.DgramRx ? _dgram.FillRx(chain.Writable) : FillSharedRx(chain.Writable, now);
            if (written == 0) break;  // keep the buffer for the next packet
            held = false;
            queue.PushUsed(chain.HeadIndex, written);
            _counters.RxPackets++;
            _counters.RxBytes += written;
            if (++sincePublish == PublishBatch)
            {
                PublishAndInterrupt(slot);
                sincePublish = 0;
            }
        }
        PublishAndInterrupt(slot);
    }

    /// <summary>Pops the next good chain of a device-writable queue into <paramref name="chain"/>.</summary>
    private bool PopWritable(SplitQueue queue, DescriptorChain chain, uint slot)
    {
        while (true)
        {
            var result = queue.Pop(chain);
            if (result == PopResult.Chain) return true;
            if (result == PopResult.BadChain)
            {
                if (chain.Error == ChainError.HeadOutOfRange)
                {
                    MarkNeedsReset(slot, $"avail ring names descriptor {chain.HeadIndex}, beyond the queue");
                    return false;
                }
                queue.PushUsed(chain.HeadIndex, 0);
                continue;
            }
            if (result == PopResult.Empty)
            {
                // No rx buffer: what is owed waits (bounded, see BEHAVIOUR.md) until the driver posts some.
                if (queue.EnableKicks()) continue;
                return false;
            }
            if (result == PopResult.Broken) MarkNeedsReset(slot, $"queue fault {queue.Fault}");
            return false;
        }
    }

    /// <summary>Gives a held rx chain back (length 0) before the queue stops, so no buffer is lost.</summary>
    private void ReturnHeld(uint slot, DescriptorChain chain, ref bool held)
    {
        if (!held) return;
        held = false;
        _queues[slot].PushUsed(chain.HeadIndex, 0);
        PublishAndInterrupt(slot);
    }

    /// <summary>epoll timeout: the caller's, shortened to the muxer's next deadline.</summary>
    private int WaitTimeout(int timeoutMs)
    {
        long deadline = Math.Min(_muxer.NextDeadlineMs, _dgram.NextDeadlineMs);
        if (deadline == long.MaxValue) return timeoutMs;
        long untilDeadline = Math.Max(0, deadline - NowMs);
        return timeoutMs < 0 ? (int)Math.Min(untilDeadline, int.MaxValue) : (int)Math.Min(untilDeadline, timeoutMs);
    }
}
