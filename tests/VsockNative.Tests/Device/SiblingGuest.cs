using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using VsockNative.Connections;
using VsockNative.Device;
using VsockNative.Interop;
using VsockNative.Tests.Memory;
using VsockNative.Tests.Virtqueue;
using VsockNative.Wire;
using Xunit;
using VsockNative.Diagnostics;

namespace VsockNative.Tests.Device;

/// <summary>
/// One guest of a VM-to-VM test: a mock driver on real rings (as in DeviceStreamTests) with its own
/// device in manual-poll mode (no uds_path, so the device opens no socket of its own), and a small
/// vsock stack on top (<see cref="GuestConn"/>): connect and listen, credit both ways, stream data
/// as a position-dependent pattern checked byte for byte, seqpacket messages with EOM/EOR, shutdown
/// and RST. Nothing runs by itself: <see cref="Pump"/> polls the device once and handles what came.
/// </summary>
internal sealed unsafe partial class SiblingGuest : IDisposable
{
    public const ushort QueueSize = 64;
    private readonly MockGuestMemory _memory = new(new MockRegion(0x10000, 12 << 20));
    private readonly MockSplitQueue _ev;
    private ushort _rxSeen;
    private readonly uint _rxBufferSize;
    private readonly Queue<byte[]> _packets = new();

    public SiblingGuest(ulong cid, uint deviceBufAlloc = 65536, uint rxBufferSize = 4096)
    {
        Cid = cid;
        _rxBufferSize = rxBufferSize;
        Rx = new MockSplitQueue(_memory, QueueSize, 0x10000, 0x11000, 0x12000, 0x100000, 0x600000);
        Tx = new MockSplitQueue(_memory, QueueSize, 0x20000, 0x21000, 0x22000, 0x600000, 0xB00000);
        _ev = new MockSplitQueue(_memory, 8, 0x30000, 0x31000, 0x32000, 0xB00000, 0xC00000);
        var config = new DeviceConfig { StructSize = (uint)sizeof(DeviceConfig), GuestCid = cid, Flags = DeviceFlags.ManualPoll, BufAlloc = deviceBufAlloc };
        Assert.Equal(0, DeviceOptionsFactory.TryCreate(config, out var options, out var why));
        Assert.Equal(0, VsockDevice.Create(options!, Logger.None, out var device));
        Device = device!;
        StartDevice(fresh: true);
    }

    public ulong Cid { get; }
    public VsockDevice Device { get; }
    public MockSplitQueue Rx { get; private set; }
    public MockSplitQueue Tx { get; }

    /// <summary>Reaped rx buffers are posted again (false: the guest posts no more: it stops taking packets).</summary>
    public bool RepostRx { get; set; } = true;

    /// <summary>Memory, features (VERSION_1 and SEQPACKET), queues, start (fresh: rx and event buffers
    /// posted; else the rings resume at <paramref name="bases"/>).</summary>
    private void StartDevice(bool fresh, ushort[]? bases = null)
    {
        Assert.Equal(0, Device.SetMemory(_memory.Memory.Regions, out var why));
        Assert.Equal(0, Device.SetFeatures(VirtioTransportFeatures.Version1 | VirtioVsockFeatures.Seqpacket, out why));
        Setup(QueueIndex.Rx, Rx);
        Setup(QueueIndex.Tx, Tx);
        Setup(QueueIndex.Event, _ev);
        if (bases is not null)
            for (uint q = 0; q < 3; q++) Assert.Equal(0, Device.SetBase(q, bases[q], out why));
        Assert.Equal(0, Device.Start(out why));
        if (fresh)
        {
            for (int i = 0; i < QueueSize; i++) PostRx();
            _ev.AddChain(new[] { _ev.AddWritable(VirtioVsockEvent.Size) });
        }
    }

    private void Setup(uint index, MockSplitQueue q)
    {
        var setup = new QueueSettings(q.Size, q.DescGpa, q.AvailGpa, q.UsedGpa, -1, -1, null);
        Assert.Equal(0, Device.SetupQueue(index, setup, out var why));
    }

    /// <summary>A device reset while the guest lives on (a frontend that went away and came back on the
    /// same rings): stop, reset, set up again where the rings were, start.</summary>
    public void ResetDevice()
    {
        Assert.Equal(0, Device.Stop());
        var bases = new ushort[3];
        for (uint q = 0; q < 3; q++) Assert.Equal(0, Device.GetBase(q, out bases[q], out _));
        Device.Reset();
        StartDevice(fresh: false, bases);
    }

    private void PostRx() => Rx.AddChain(new[] { Rx.AddWritable(_rxBufferSize) });

    /// <summary>Posts <paramref name="n"/> rx buffers (after <see cref="RepostRx"/> was false).</summary>
    public void PostRx(int n)
    {
        for (int i = 0; i < n; i++) PostRx();
    }

    /// <summary>Kicks every queue and polls the device once (no waiting): the device's own work only.</summary>
    public int PollDevice()
    {
        Device.Notify(QueueIndex.Tx, out _);
        Device.Notify(QueueIndex.Rx, out _);
        int rc = Device.Poll(0, out var why);
        Assert.True(rc >= 0, why);
        return rc;
    }

    /// <summary>Reads what the device put in the rx ring (reposting buffers) and handles each packet.</summary>
    public void Collect()
    {
        while (_rxSeen != Rx.UsedIdx)
        {
            var (id, len) = Rx.UsedElem(_rxSeen++);
            ulong gpa = BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(_memory.HostOf(Rx.DescGpa + 16ul * id), 8));
            _packets.Enqueue(new ReadOnlySpan<byte>(_memory.HostOf(gpa), (int)len).ToArray());  // one region: contiguous
            if (RepostRx) PostRx();
        }
        while (_packets.Count > 0) Handle(_packets.Dequeue());
        Consume();
    }

    /// <summary>One round: poll the device, handle what came back.</summary>
    public void Pump()
    {
        PollDevice();
        Collect();
    }

    /// <summary>Pumps both guests until <paramref name="done"/> holds (at most <paramref name="rounds"/> rounds).</summary>
    public static bool PumpUntil(SiblingGuest a, SiblingGuest b, Func<bool> done, int rounds = 20000, Action? each = null)
    {
        for (int i = 0; i < rounds; i++)
        {
            if (done()) return true;
            each?.Invoke();
            a.Pump();
            b.Pump();
        }
        return done();
    }

    /// <summary>Queues one tx packet (header in little-endian, payload after it in the same buffer).</summary>
    public void SendPacket(ulong dstCid, uint srcPort, uint dstPort, VirtioVsockOp op, VirtioVsockType type, ReadOnlySpan<byte> payload = default,
        uint flags = 0, uint bufAlloc = 0, uint fwdCnt = 0)
    {
        int size = VirtioVsockHdr.Size + payload.Length;
        ulong gpa = Tx.Allocate((ulong)size);
        var packet = new Span<byte>(_memory.HostOf(gpa), size);  // one region: contiguous
        _ = new VirtioVsockHdr(packet)
        {
            SrcCid = Cid, DstCid = dstCid, SrcPort = srcPort, DstPort = dstPort, Len = (uint)payload.Length,
            Type = (ushort)type, Op = (ushort)op, Flags = flags, BufAlloc = bufAlloc, FwdCnt = fwdCnt,
        };
        payload.CopyTo(packet[VirtioVsockHdr.Size..]);
        Tx.AddChain(new[] { new MockBuffer(gpa, (uint)size) });
    }

    /// <summary>The device's view of this guest's connections, flags included.</summary>
    public VsockNative.Protocol.ConnectionInfo[] Connections()
    {
        var infos = new VsockNative.Protocol.ConnectionInfo[64];
        int n = Device.ConnectionSnapshot(infos);
        return infos.AsSpan(0, Math.Min(n, infos.Length)).ToArray();
    }

    public void Dispose()
    {
        Device.Dispose();
        _memory.Dispose();
    }
}

/// <summary>Routes guest REQUESTs between the test's devices by CID, as the daemon's router does
/// (called on the origin's loop, here the test thread, outside the device's lock).</summary>
internal sealed class TestRouter : ISiblingRouter
{
    private readonly Dictionary<ulong, VsockDevice> _devices = new();

    public TestRouter(params SiblingGuest[] guests)
    {
        foreach (var g in guests)
        {
            _devices[g.Cid] = g.Device;
            Assert.Equal(0, g.Device.SetRouter(this, out _));
        }
    }

    public bool Takes(VirtioVsockType type) => true;

    public int Route(VirtioVsockType type, ulong dstCid, uint dstPort, ulong srcCid, uint srcPort, int fd) =>
        _devices.TryGetValue(dstCid, out var d) ? d.ConnectFrom(dstPort, (uint)type, srcCid, srcPort, fd, out _) : -Errno.EHOSTUNREACH;
}
