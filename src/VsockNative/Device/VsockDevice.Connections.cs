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
    private IoVec[] _payload = null!;

    private void InitConnections()
    {
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

    /// <summary>Fills rx buffers while the muxer (or, on the shared queue, the datagram layer) has packets for the guest.</summary>
    private void ProcessRx()
    {
        if (_q[QueueSlot.Rx].Configured && RxPending(QueueSlot.Rx)) FillRxQueue(QueueSlot.Rx);
    }

    /// <summary>Whether packets wait for buffers of a device-writable queue (rx, or the datagram rx queue).</summary>
    private bool RxPending(uint slot) => slot == QueueSlot.DgramRx ? _dgram.HasPendingRx : _muxer.HasPendingRx || SharedDatagramsPending;

    /// <summary>Writes packets into the buffers of an rx queue while there are both. A buffer the device
    /// can never use (device-readable, smaller than a header) is returned with length 0 and counted; a
    /// header-only buffer while only data waits is returned too, so the data behind it flows; a buffer
    /// nothing fits in now is given back to the ring (BEHAVIOUR.md, "Rx buffers").</summary>
    private void FillRxQueue(uint slot)
    {
        var q = _q[slot];
        long now = NowMs;
        int sincePublish = 0;
        while (RxPending(slot) && q.PopNext(Log))
        {
            var chain = q.Chain;
            if (chain.ReadableCount != 0)
            {
                q.ReturnUnusable(UnusableChain.Readable, Log);
                continue;
            }
            if (chain.WritableLength < VirtioVsockHdr.Size)
            {
                q.ReturnUnusable(UnusableChain.TooSmall, Log);
                continue;
            }
            uint written = slot == QueueSlot.DgramRx ? _dgram.FillRx(chain.Writable) : FillSharedRx(chain.Writable, now);
            if (written == 0)
            {
                if (chain.WritableLength == VirtioVsockHdr.Size && RxPending(slot))
                {
                    q.ReturnUnusable(UnusableChain.HeaderOnly, Log);  // only data waits: it needs room
                    continue;
                }
                q.GiveBack();
                break;
            }
            q.Ring.PushUsed(chain.HeadIndex, written);
            _counters.RxPackets++;
            _counters.RxBytes += written;
            if (++sincePublish == PublishBatch)
            {
                PublishAndInterrupt(slot);
                sincePublish = 0;
            }
        }
        CheckFault(q);
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
