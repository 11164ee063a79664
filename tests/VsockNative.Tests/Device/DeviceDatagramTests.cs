using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using VsockNative.Connections;
using VsockNative.Device;
using VsockNative.Interop;
using VsockNative.Tests.Memory;
using VsockNative.Tests.Virtqueue;
using VsockNative.Wire;
using Xunit;
using VsockNative.Diagnostics;

namespace VsockNative.Tests.Device;

/// <summary>Datagrams through the whole device on both queue layouts: which queue carries what,
/// the queue index rules, feature gating and the config checks.</summary>
public sealed unsafe class DeviceDatagramTests : IDisposable
{
    private const ulong GuestCid = 3;
    private const ulong Dgram = VirtioVsockFeatures.Dgram;
    private readonly string _dir = Directory.CreateTempSubdirectory("vsn-ddg-").FullName;
    private readonly MockGuestMemory _memory = new(new MockRegion(0x10000, 16 << 20));
    private readonly nint _udsPath;
    private readonly List<MockSplitQueue> _queues = new();
    private readonly Dictionary<MockSplitQueue, ushort> _seen = new();
    private VsockDevice? _device;

    public DeviceDatagramTests() => _udsPath = Marshal.StringToHGlobalAnsi(Path.Combine(_dir, "vm"));

    private string Uds => Path.Combine(_dir, "vm");

    private static DeviceConfig Config(uint layout = DgramLayout.Shared, ulong features = 0) => new()
    {
        StructSize = (uint)sizeof(DeviceConfig), GuestCid = GuestCid, Flags = DeviceFlags.ManualPoll, DgramLayout = layout, Features = features,
    };

    private VsockDevice Create(uint layout, ulong driverFeatures)
    {
        var config = Config(layout);
        config.UdsPath = (sbyte*)_udsPath;
        Assert.Equal(0, DeviceOptionsFactory.TryCreate(config, out var options, out var why));
        Assert.Equal(0, VsockDevice.Create(options!, Logger.None, out var device));
        _device = device!;
        Assert.Equal(0, _device.SetMemory(_memory.Memory.Regions, out why));
        Assert.Equal(0, _device.SetFeatures(VirtioTransportFeatures.Version1 | driverFeatures, out why));
        return _device;
    }

    /// <summary>Sets up driver queue <paramref name="index"/>; returns the mock or null when the device refuses it.</summary>
    private MockSplitQueue? Queue(uint index)
    {
        ulong b = 0x10000 + 0x300000ul * (ulong)_queues.Count;
        var q = new MockSplitQueue(_memory, 32, b, b + 0x1000, b + 0x2000, b + 0x10000, b + 0x300000);
        var setup = new QueueSettings(q.Size, q.DescGpa, q.AvailGpa, q.UsedGpa, -1, -1, null);
        if (_device!.SetupQueue(index, setup, out _) != 0) return null;
        _queues.Add(q);
        _seen[q] = 0;
        return q;
    }

    private void Poll()
    {
        for (uint i = 0; i < 5; i++) _device!.Notify(i, out _);
        Assert.True(_device!.Poll(0, out var why) >= 0, why);
    }

    private static void Post(MockSplitQueue q, int n, uint size = 4096)
    {
        for (int i = 0; i < n; i++) q.AddChain(new[] { q.AddWritable(size) });
    }

    private static byte[] Packet(uint src, uint dst, VirtioVsockType type, VirtioVsockOp op, ReadOnlySpan<byte> payload, uint flags)
    {
        var p = new byte[VirtioVsockHdr.Size + payload.Length];
        _ = new VirtioVsockHdr(p)
        {
            SrcCid = GuestCid, DstCid = 2, SrcPort = src, DstPort = dst, Len = (uint)payload.Length,
            Type = (ushort)type, Op = (ushort)op, Flags = flags,
        };
        payload.CopyTo(p.AsSpan(VirtioVsockHdr.Size));
        return p;
    }

    private void Send(MockSplitQueue tx, byte[] packet)
    {
        tx.AddChain(new[] { tx.AddData(packet) });
        Poll();
    }

    /// <summary>Packets the device wrote into <paramref name="q"/> since the last call.</summary>
    private List<byte[]> Used(MockSplitQueue q)
    {
        var list = new List<byte[]>();
        ushort seen = _seen[q];
        while (seen != q.UsedIdx)
        {
            var (id, len) = q.UsedElem(seen++);
            var desc = new byte[8];
            _memory.Read(q.DescGpa + 16ul * id, desc);
            var bytes = new byte[len];
            _memory.Read(System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(desc), bytes);
            list.Add(bytes);
        }
        _seen[q] = seen;
        return list;
    }

    private Socket HostSocket(uint port)
    {
        var s = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        s.Bind(new UnixDomainSocketEndPoint($"{Uds}_{port}"));
        s.ReceiveTimeout = 2000;
        return s;
    }

    [Fact]
    public void Shared_layout_datagrams_travel_on_the_tx_and_rx_queues()
    {
        Create(DgramLayout.Shared, Dgram);
        var rx = Queue(QueueIndex.Rx)!;
        var tx = Queue(QueueIndex.Tx)!;
        Assert.NotNull(Queue(QueueIndex.Event));
        Assert.Null(Queue(QueueIndex.DgramTx));      // three queues: index 3 does not exist
        Assert.Equal(0, _device!.Start(out _));
        Post(rx, 8);
        using var host = HostSocket(7000);
        Send(tx, Packet(6000, 7000, VirtioVsockType.Dgram, VirtioVsockOp.Rw, new byte[] { 1, 2, 3 }, (uint)VirtioVsockDgramFlags.Eom));
        var buf = new byte[16];
        EndPoint from = new UnixDomainSocketEndPoint("/x");
        Assert.Equal(3, host.ReceiveFrom(buf, ref from));
        host.SendTo(new byte[6000], from);
        Poll();
        var got = Used(rx);
        Assert.Equal(2, got.Count);  // 6000 bytes in 4096-byte buffers: two fragments
        Assert.Equal(0u, new VirtioVsockHdr(got[0]).Flags);
        Assert.Equal((uint)VirtioVsockDgramFlags.Eom, new VirtioVsockHdr(got[1]).Flags);
        Assert.Equal((ushort)VirtioVsockType.Dgram, new VirtioVsockHdr(got[1]).Type);
        Assert.Equal(1UL, _device.DatagramCounters.HostToGuestDatagrams);
    }

    [Fact]
    public void On_the_shared_rx_queue_a_datagram_s_fragments_are_never_interleaved_but_streams_take_turns()
    {
        Create(DgramLayout.Shared, Dgram);
        var rx = Queue(QueueIndex.Rx)!;
        var tx = Queue(QueueIndex.Tx)!;
        Queue(QueueIndex.Event);
        Assert.Equal(0, _device!.Start(out _));
        using var host = HostSocket(7000);
        Send(tx, Packet(6000, 7000, VirtioVsockType.Dgram, VirtioVsockOp.Rw, new byte[] { 1 }, (uint)VirtioVsockDgramFlags.Eom));
        EndPoint from = new UnixDomainSocketEndPoint("/x");
        host.ReceiveFrom(new byte[4], ref from);
        // no rx buffers yet: three stream RSTs and a 10 000-byte datagram (three fragments) wait
        for (uint p = 0; p < 3; p++) Send(tx, Packet(5000 + p, 999, VirtioVsockType.Stream, VirtioVsockOp.Request, default, 0));
        host.SendTo(new byte[10_000], from);
        Poll();
        Post(rx, 8);
        Poll();
        var kinds = new List<string>();
        foreach (var p in Used(rx))
        {
            var h = new VirtioVsockHdr(p);
            kinds.Add(h.Type == (ushort)VirtioVsockType.Dgram ? (h.Flags == 0 ? "frag" : "eom") : "rst");
        }
        // turns: a stream packet, then the whole datagram back to back, then the other stream packets
        Assert.Equal(new[] { "rst", "frag", "frag", "eom", "rst", "rst" }, kinds);
    }

    [Fact]
    public void Five_queue_layout_uses_queues_2_and_3_for_datagrams_and_4_for_events()
    {
        Create(DgramLayout.Separate, Dgram);
        var rx = Queue(QueueIndex.Rx)!;
        var tx = Queue(QueueIndex.Tx)!;
        var drx = Queue(QueueIndex.DgramRx)!;
        var dtx = Queue(QueueIndex.DgramTx)!;
        var ev = Queue(QueueIndex.DgramEvent)!;
        Assert.Null(Queue(5));
        Assert.Equal(0, _device!.Start(out _));
        Post(rx, 4);
        Post(drx, 4);
        ev.AddChain(new[] { ev.AddWritable(8) });
        using var host = HostSocket(7000);
        Send(dtx, Packet(6000, 7000, VirtioVsockType.Dgram, VirtioVsockOp.Rw, new byte[] { 9 }, (uint)VirtioVsockDgramFlags.Eom));
        var buf = new byte[16];
        EndPoint from = new UnixDomainSocketEndPoint("/x");
        Assert.Equal(1, host.ReceiveFrom(buf, ref from));
        host.SendTo(new byte[] { 4, 5 }, from);
        Poll();
        var got = Used(drx);
        Assert.Single(got);
        Assert.Equal(new byte[] { 4, 5 }, got[0][VirtioVsockHdr.Size..]);
        Assert.Empty(Used(rx));                      // nothing of it on the stream rx queue
        // stream traffic stays on queues 0/1: a REQUEST to nothing gets its RST on rx 0
        Send(tx, Packet(6001, 999, VirtioVsockType.Stream, VirtioVsockOp.Request, default, 0));
        Assert.Equal((ushort)VirtioVsockOp.Rst, new VirtioVsockHdr(Assert.Single(Used(rx))).Op);
        Assert.Empty(Used(drx));
        // wrong queue either way: dropped, counted
        Send(tx, Packet(6000, 7000, VirtioVsockType.Dgram, VirtioVsockOp.Rw, new byte[] { 1 }, (uint)VirtioVsockDgramFlags.Eom));
        Assert.Equal(1UL, _device.DatagramCounters.DroppedMalformed);
        ulong txm = _device.Counters.TxMalformed, txp = _device.Counters.TxPackets;
        Send(dtx, Packet(6002, 999, VirtioVsockType.Stream, VirtioVsockOp.Request, default, 0));
        Assert.Equal(txm + 1, _device.Counters.TxMalformed);
        Assert.Equal(txp, _device.Counters.TxPackets);   // malformed, not also a packet
        // a stream packet on the datagram tx queue whose hdr.len also lies: one packet, counted once
        var lying = Packet(6002, 999, VirtioVsockType.Stream, VirtioVsockOp.Rw, new byte[] { 1, 2 }, 0);
        BinaryPrimitives.WriteUInt32LittleEndian(lying.AsSpan(24), 7);
        Send(dtx, lying);
        Assert.Equal(txm + 2, _device.Counters.TxMalformed);
        Assert.Equal(txp, _device.Counters.TxPackets);
        Assert.Empty(Used(rx));
        Assert.Equal(1UL, _device.DatagramCounters.GuestToHostDatagrams);
        // the event queue is index 4
        Assert.Equal(0, _device.TransportReset(out _));
        Poll();
        Assert.Single(Used(ev));
    }

    [Fact]
    public void Without_dgram_negotiated_the_separate_layout_has_three_queues_and_datagrams_are_dropped()
    {
        Create(DgramLayout.Separate, 0);
        var rx = Queue(QueueIndex.Rx)!;
        var tx = Queue(QueueIndex.Tx)!;
        Assert.NotNull(Queue(QueueIndex.Event));     // index 2 is the event queue again
        Assert.Null(Queue(QueueIndex.DgramTx));
        Assert.Null(Queue(QueueIndex.DgramEvent));
        Assert.Equal(0, _device!.Start(out _));
        Post(rx, 4);
        using var host = HostSocket(7000);
        Send(tx, Packet(6000, 7000, VirtioVsockType.Dgram, VirtioVsockOp.Rw, new byte[] { 1 }, (uint)VirtioVsockDgramFlags.Eom));
        Assert.Equal(1UL, _device.DatagramCounters.DroppedNotNegotiated);
        Assert.Empty(Used(rx));                      // no RST either
        host.ReceiveTimeout = 50;
        Assert.Throws<SocketException>(() => host.Receive(new byte[4]));
    }

    [Fact]
    public void The_config_offers_dgram_by_default_and_refuses_a_layout_that_cannot_work()
    {
        Assert.Equal(0, DeviceOptionsFactory.TryCreate(Config(), out var options, out _));
        Assert.NotEqual(0UL, options!.OfferedFeatures & Dgram);
        Assert.Equal(-Errno.EINVAL, DeviceOptionsFactory.TryCreate(Config(layout: 2), out _, out _));
        ulong noDgram = VirtioTransportFeatures.Version1 | VirtioVsockFeatures.Stream;
        Assert.Equal(-Errno.EINVAL, DeviceOptionsFactory.TryCreate(Config(DgramLayout.Separate, noDgram), out _, out var why));
        Assert.Contains("VIRTIO_VSOCK_F_DGRAM", why);
        var big = Config();
        big.MaxDgramSockets = 5000;
        Assert.Equal(-Errno.EINVAL, DeviceOptionsFactory.TryCreate(big, out _, out _));
        // a device that does not offer DGRAM: the fd API refuses datagrams
        var config = Config(DgramLayout.Shared, noDgram);
        Assert.Equal(0, DeviceOptionsFactory.TryCreate(config, out options, out _));
        Assert.Equal(0, VsockDevice.Create(options!, Logger.None, out _device));
        Assert.Equal(-Errno.ENOTSUP, _device!.Connect(5, (uint)VirtioVsockType.Dgram, out _, out _));
        Assert.Equal(-Errno.EINVAL, _device.SetFeatures(VirtioTransportFeatures.Version1 | Dgram, out _));
    }

    public void Dispose()
    {
        _device?.Dispose();
        _memory.Dispose();
        Marshal.FreeHGlobal(_udsPath);
        Directory.Delete(_dir, true);
    }
}
