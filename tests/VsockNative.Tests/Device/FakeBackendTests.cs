using System;
using System.Collections.Generic;
using VsockNative.Connections;
using VsockNative.Device;
using VsockNative.Diagnostics;
using VsockNative.EventLoop;
using VsockNative.Protocol;
using VsockNative.Tests.Memory;
using VsockNative.Tests.Virtqueue;
using VsockNative.Wire;
using Xunit;

namespace VsockNative.Tests.Device;

/// <summary>The device core against a fake backend: the queues, the pump and the loop do their part
/// with no connection layer, no socket and no fd behind them (docs/ARCHITECTURE.md).</summary>
public sealed class FakeBackendTests : IDisposable
{
    private readonly MockGuestMemory _memory = new(new MockRegion(0x10000, 4 << 20));
    private readonly MockSplitQueue _rx, _tx, _ev;
    private readonly FakeBackend _backend = new();
    private readonly VsockDevice _device;

    public FakeBackendTests()
    {
        _rx = new MockSplitQueue(_memory, 16, 0x10000, 0x11000, 0x12000, 0x100000, 0x200000);
        _tx = new MockSplitQueue(_memory, 16, 0x20000, 0x21000, 0x22000, 0x200000, 0x300000);
        _ev = new MockSplitQueue(_memory, 4, 0x30000, 0x31000, 0x32000, 0x300000, 0x380000);
        var options = new DeviceOptions(3, DeviceOptions.SupportedFeatures, manualPoll: true, udsPath: null, bufAlloc: 65536,
            maxConnections: 16, separateDatagramQueues: false, maxDgramSockets: 4);
        Assert.Equal(0, VsockDevice.Create(options, Logger.None, out var device, _ => _backend));
        _device = device!;
        Assert.Equal(0, _device.SetMemory(_memory.Memory.Regions, out _));
        Assert.Equal(0, _device.SetFeatures(VirtioTransportFeatures.Version1, out _));
        foreach (var (index, q) in new[] { (0u, _rx), (1u, _tx), (2u, _ev) })
            Assert.Equal(0, _device.SetupQueue(index, new QueueSettings(q.Size, q.DescGpa, q.AvailGpa, q.UsedGpa, -1, -1, null), out _));
        Assert.Equal(0, _device.Start(out _));
    }

    private void Poll()
    {
        for (uint q = 0; q < 3; q++) _device.Notify(q, out _);
        Assert.True(_device.Poll(0, out var why) >= 0, why);
    }

    private static byte[] Packet(uint srcPort, uint dstPort, ReadOnlySpan<byte> payload)
    {
        var bytes = new byte[VirtioVsockHdr.Size + payload.Length];
        _ = new VirtioVsockHdr(bytes)
        {
            SrcCid = 3, DstCid = 2, SrcPort = srcPort, DstPort = dstPort, Len = (uint)payload.Length,
            Type = (ushort)VirtioVsockType.Stream, Op = (ushort)VirtioVsockOp.Rw,
        };
        payload.CopyTo(bytes.AsSpan(VirtioVsockHdr.Size));
        return bytes;
    }

    [Fact]
    public void Tx_packets_reach_the_backend_with_their_payload_and_the_chain_is_returned()
    {
        _tx.AddChain(new[] { _tx.AddData(Packet(1000, 80, new byte[] { 1, 2, 3 })) });
        // the header split from the payload across two descriptors: the backend sees one packet all the same
        var p = Packet(1001, 81, new byte[] { 4, 5 });
        _tx.AddChain(new[] { _tx.AddData(p.AsSpan(0, 10)), _tx.AddData(p.AsSpan(10)) });
        Poll();
        Assert.Equal(2, _backend.Received.Count);
        Assert.Equal((1000u, 80u), (_backend.Received[0].Src, _backend.Received[0].Dst));
        Assert.Equal(new byte[] { 1, 2, 3 }, _backend.Received[0].Payload);
        Assert.Equal(new byte[] { 4, 5 }, _backend.Received[1].Payload);
        Assert.Equal(BackendQueue.Stream, _backend.Received[0].Queue);
        Assert.Equal(2, _tx.UsedIdx);
    }

    [Fact]
    public void What_the_backend_has_for_the_guest_goes_into_rx_buffers_and_waits_for_them()
    {
        _backend.ToGuest.Enqueue(Packet(80, 1000, new byte[] { 9, 9 }));
        _backend.ToGuest.Enqueue(Packet(81, 1001, default));
        Poll();  // no rx buffer yet: nothing lost, nothing used
        Assert.Equal(2, _backend.ToGuest.Count);
        _rx.AddChain(new[] { _rx.AddWritable(4096) });
        Poll();
        Assert.Equal(1, _rx.UsedIdx);
        Assert.Equal((uint)(VirtioVsockHdr.Size + 2), _rx.UsedElem(0).Length);
        Assert.Single(_backend.ToGuest);
        _rx.AddChain(new[] { _rx.AddWritable(4096) });
        _rx.AddChain(new[] { _rx.AddWritable(4096) });
        Poll();
        Assert.Equal(2, _rx.UsedIdx);  // the third buffer is not even popped: nothing waits for it
        Assert.Equal(0, _device.GetQueueCounters(0, out var c, out _));
        Assert.Equal(0ul, c.ChainsGivenBack);
        // something the buffer cannot take: popped, given back to the ring (not held, not used)
        _backend.ToGuest.Enqueue(Packet(82, 1002, new byte[5000]));
        Poll();
        Assert.Equal(2, _rx.UsedIdx);
        Assert.Equal(0, _device.GetQueueCounters(0, out c, out _));
        Assert.Equal(1ul, c.ChainsGivenBack);
        _rx.AddChain(new[] { _rx.AddWritable(8192) });  // behind it: the given-back buffer is popped first again
        Poll();
        Assert.Equal(2, _rx.UsedIdx);
        Assert.Equal(0, _device.GetQueueCounters(0, out c, out _));
        Assert.Equal(2ul, c.ChainsGivenBack);
    }

    [Fact]
    public void The_backends_deadline_runs_its_timer_from_the_loop()
    {
        _backend.Deadline = Environment.TickCount64 - 1;
        Poll();
        Assert.Equal(1, _backend.Timers);
        Assert.Equal(long.MaxValue, _backend.Deadline);
    }

    public void Dispose() => _device.Dispose();

    private sealed class FakeBackend : IVsockBackend
    {
        public readonly List<(uint Src, uint Dst, byte[] Payload, BackendQueue Queue)> Received = new();
        public readonly Queue<byte[]> ToGuest = new();
        public long Deadline = long.MaxValue;
        public int Timers;

        public void OnGuestPacket(in PacketHeader header, ReadOnlySpan<IoVec> payload, BackendQueue queue, long nowMs)
        {
            var bytes = new byte[ScatterIo.TotalLength(payload)];
            ScatterIo.Gather(payload, 0, bytes);
            Received.Add((header.SrcPort, header.DstPort, bytes, queue));
        }

        public bool HasPendingRx(BackendQueue queue) => ToGuest.Count > 0;

        public uint FillRx(BackendQueue queue, ReadOnlySpan<IoVec> buffer, long nowMs)
        {
            if (ToGuest.Count == 0 || ScatterIo.TotalLength(buffer) < (ulong)ToGuest.Peek().Length) return 0;
            var packet = ToGuest.Dequeue();
            ScatterIo.Scatter(buffer, 0, packet);
            return (uint)packet.Length;
        }

        public long NextDeadlineMs => Deadline;

        public void OnTimer(long nowMs)
        {
            if (Deadline > nowMs) return;
            Timers++;
            Deadline = long.MaxValue;
        }

        public void OnFeatures(ulong features, bool separateDatagramQueues) { }
        public int OpenEndpoints(out string error) { error = ""; return 0; }
        public void OnStartAfterReset(bool sameDriver) { }
        public void DropConnections(bool tellGuest) => ToGuest.Clear();
        public void OnFdEvent(ulong tag, uint events, long nowMs) { }
        public void OnSignals(long nowMs) { }
        public void TakeDeferred(VsockNative.EventLoop.IDeferredSink into) { }
        public int Listen(uint port, VirtioVsockType type, IFdListener listener, out string error) { error = "fake"; return -Errno.ENOTSUP; }
        public int Unlisten(uint port, VirtioVsockType type, out string error) { error = "fake"; return -Errno.ENOTSUP; }
        public int Connect(uint guestPort, VirtioVsockType type, long nowMs, out int fd, out string error) { fd = -1; error = "fake"; return -Errno.ENOTSUP; }
        public int ConnectFrom(uint guestPort, VirtioVsockType type, ulong srcCid, uint srcPort, int fd, long nowMs, out string error) { error = "fake"; return -Errno.ENOTSUP; }
        public ISiblingRouter? Router { get; set; }
        public MuxerCounters ConnectionCounters => default;
        public ConnectionCounters EndedConnectionCounters => default;
        public DatagramCounters DatagramCounters => default;
        public int Snapshot(Span<ConnectionInfo> destination) => 0;
        public void Dispose() { }
    }
}
