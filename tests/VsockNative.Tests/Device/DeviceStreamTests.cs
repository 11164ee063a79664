using System;
using System.Collections.Generic;
using System.IO;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using VsockNative.Connections;
using VsockNative.Device;
using VsockNative.Interop;
using VsockNative.Tests.Memory;
using VsockNative.Tests.Virtqueue;
using VsockNative.Wire;
using Xunit;
using VsockNative.Diagnostics;

namespace VsockNative.Tests.Device;

/// <summary>The whole device in one process: a mock guest driver on real rings, the device in manual
/// poll mode, and real Unix sockets on the host side (the hybrid-vsock convention).</summary>
public sealed unsafe partial class DeviceStreamTests : IDisposable
{
    private const ulong GuestCid = 3;
    private const ushort QueueSize = 64;
    private readonly string _dir = Directory.CreateTempSubdirectory("vsn-dev-").FullName;
    private readonly MockGuestMemory _memory = new(new MockRegion(0x10000, 8 << 20));
    private readonly MockSplitQueue _rx, _tx, _ev;
    private readonly VsockDevice _device;
    private readonly nint _udsPath;
    private ushort _rxSeen;
    private bool _repostRx = true;
    private readonly Queue<byte[]> _received = new();

    public DeviceStreamTests()
    {
        _rx = new MockSplitQueue(_memory, QueueSize, 0x10000, 0x11000, 0x12000, 0x100000, 0x400000);
        _tx = new MockSplitQueue(_memory, QueueSize, 0x20000, 0x21000, 0x22000, 0x400000, 0x700000);
        _ev = new MockSplitQueue(_memory, 8, 0x30000, 0x31000, 0x32000, 0x700000, 0x800000);
        _udsPath = Marshal.StringToHGlobalAnsi(Path.Combine(_dir, "vm.vsock"));
        var config = new DeviceConfig { StructSize = (uint)sizeof(DeviceConfig), GuestCid = GuestCid, Flags = DeviceFlags.ManualPoll, UdsPath = (sbyte*)_udsPath, BufAlloc = 65536 };
        Assert.Equal(0, DeviceOptionsFactory.TryCreate(config, out var options, out var why));
        Assert.Equal(0, VsockDevice.Create(options!, Logger.None, out var device));
        _device = device!;
        Assert.Equal(0, _device.SetMemory(_memory.Memory.Regions, out why));
        Assert.Equal(0, _device.SetFeatures(VirtioTransportFeatures.Version1, out why));
        Setup(QueueIndex.Rx, _rx);
        Setup(QueueIndex.Tx, _tx);
        Setup(QueueIndex.Event, _ev);
        Assert.Equal(0, _device.Start(out why));
        for (int i = 0; i < 16; i++) PostRx();
        _ev.AddChain(new[] { _ev.AddWritable(VirtioVsockEvent.Size) });
        Poll();
    }

    private void Setup(uint index, MockSplitQueue q)
    {
        var setup = new QueueSettings(q.Size, q.DescGpa, q.AvailGpa, q.UsedGpa, -1, -1, null);
        Assert.Equal(0, _device.SetupQueue(index, setup, out var why));
    }

    private void PostRx() => _rx.AddChain(new[] { _rx.AddWritable(4096) });

    private void Poll()
    {
        _device.Notify(QueueIndex.Tx, out _);
        _device.Notify(QueueIndex.Rx, out _);
        _device.Notify(QueueIndex.Event, out _);
        Assert.True(_device.Poll(0, out var why) >= 0, why);
        Collect();
    }

    /// <summary>Reads what the device put in the rx ring; reposts the buffers.</summary>
    private void Collect()
    {
        while (_rxSeen != _rx.UsedIdx)
        {
            var (id, len) = _rx.UsedElem(_rxSeen++);
            var bytes = new byte[len];
            // buffers are single descriptors: read the descriptor's address
            var desc = new byte[8];
            _memory.Read(_rx.DescGpa + 16ul * id, desc);
            ulong addr = System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(desc);
            _memory.Read(addr, bytes);
            _received.Enqueue(bytes);
            if (_repostRx) PostRx();
        }
    }

    private void Send(VirtioVsockOp op, uint srcPort, uint dstPort, ReadOnlySpan<byte> payload = default, uint flags = 0, ulong srcCid = GuestCid, ulong dstCid = 2)
    {
        PutTx(op, srcPort, dstPort, payload, flags, srcCid, dstCid);
        Poll();
    }

    /// <summary>Makes one tx packet available, without a kick.</summary>
    private void PutTx(VirtioVsockOp op, uint srcPort, uint dstPort, ReadOnlySpan<byte> payload = default, uint flags = 0, ulong srcCid = GuestCid, ulong dstCid = 2)
    {
        var packet = new byte[VirtioVsockHdr.Size + payload.Length];
        var h = new VirtioVsockHdr(packet)
        {
            SrcCid = srcCid, DstCid = dstCid, SrcPort = srcPort, DstPort = dstPort, Len = (uint)payload.Length,
            Type = (ushort)VirtioVsockType.Stream, Op = (ushort)op, Flags = flags, BufAlloc = 1 << 20, FwdCnt = 0,
        };
        payload.CopyTo(packet.AsSpan(VirtioVsockHdr.Size));
        _tx.AddChain(new[] { _tx.AddData(packet) });
    }

    private byte[] Expect(VirtioVsockOp op, ulong srcCid = 2)
    {
        for (int i = 0; i < 50 && _received.Count == 0; i++) { System.Threading.Thread.Sleep(10); Poll(); }
        Assert.True(_received.Count > 0, $"no packet from the device (expected {op})");
        var p = _received.Dequeue();
        Assert.True(p.Length >= VirtioVsockHdr.Size, $"a used rx buffer of {p.Length} bytes (expected {op}); {_received.Count} more queued");
        var h = new VirtioVsockHdr(p);
        Assert.Equal((ushort)op, h.Op);
        Assert.Equal(srcCid, h.SrcCid);
        Assert.Equal(GuestCid, h.DstCid);
        return p;
    }

    /// <summary>A host listener at "&lt;uds_path&gt;_1234", as a host program makes one.</summary>
    private Socket ListenAt1234()
    {
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(Path.Combine(_dir, "vm.vsock_1234")));
        listener.Listen(4);
        return listener;
    }

    /// <summary>The guest connects from <paramref name="guestPort"/> to host port 1234: REQUEST,
    /// the device's RESPONSE (returned), and the host end the listener accepted.</summary>
    private Socket ConnectFromGuest(Socket listener, uint guestPort, out byte[] response)
    {
        Send(VirtioVsockOp.Request, guestPort, 1234);
        response = Expect(VirtioVsockOp.Response);
        return listener.Accept();
    }

    [Fact]
    public void Guest_connects_to_a_host_listener_and_data_flows_both_ways()
    {
        using var listener = ListenAt1234();
        using var host = ConnectFromGuest(listener, 5000, out var response);
        Assert.Equal(5000u, new VirtioVsockHdr(response).DstPort);
        Assert.Equal(65536u, new VirtioVsockHdr(response).BufAlloc);

        Send(VirtioVsockOp.Rw, 5000, 1234, Encoding.ASCII.GetBytes("hello host"));
        var buf = new byte[64];
        int n = host.Receive(buf);
        Assert.Equal("hello host", Encoding.ASCII.GetString(buf, 0, n));

        host.Send(Encoding.ASCII.GetBytes("hello guest"));
        Poll();
        var rw = Expect(VirtioVsockOp.Rw);
        Assert.Equal("hello guest", Encoding.ASCII.GetString(rw, VirtioVsockHdr.Size, rw.Length - VirtioVsockHdr.Size));

        host.Shutdown(SocketShutdown.Send);
        Poll();
        var shutdown = Expect(VirtioVsockOp.Shutdown);
        Assert.Equal((uint)VirtioVsockShutdown.Send, new VirtioVsockHdr(shutdown).Flags & (uint)VirtioVsockShutdown.Send);
    }

    [Fact]
    public void A_request_to_a_port_nobody_listens_on_is_reset()
    {
        Send(VirtioVsockOp.Request, 5001, 999);
        var rst = Expect(VirtioVsockOp.Rst);
        Assert.Equal(5001u, new VirtioVsockHdr(rst).DstPort);
        Assert.Equal(1UL, _device.ConnectionCounters.RefusedNoListener);
    }

    [Fact]
    public void Spoofed_packets_are_dropped_and_counted_without_a_reply()
    {
        Send(VirtioVsockOp.Request, 5002, 1234, srcCid: 7);
        Poll();
        Assert.Empty(_received);
        Assert.Equal(1UL, _device.ConnectionCounters.Spoofed);
    }

    [Fact]
    public void A_host_program_connects_into_the_guest_with_CONNECT()
    {
        using var client = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        client.Connect(new UnixDomainSocketEndPoint(Path.Combine(_dir, "vm.vsock")));
        client.Send(Encoding.ASCII.GetBytes("connect 52\nearly bytes"));
        Poll();
        Poll();
        var request = Expect(VirtioVsockOp.Request);
        var rh = new VirtioVsockHdr(request);
        Assert.Equal(52u, rh.DstPort);
        Assert.InRange(rh.SrcPort, 1u << 30, (1u << 31) - 1);

        Send(VirtioVsockOp.Response, 52, rh.SrcPort);
        var buf = new byte[64];
        int n = client.Receive(buf);
        Assert.Equal($"OK {rh.SrcPort}\n", Encoding.ASCII.GetString(buf, 0, n));
        // the bytes sent right after the CONNECT line reach the guest
        Poll();
        var rw = Expect(VirtioVsockOp.Rw);
        Assert.Equal("early bytes", Encoding.ASCII.GetString(rw, VirtioVsockHdr.Size, rw.Length - VirtioVsockHdr.Size));
    }

    [Fact]
    public void Hybrid_clients_that_have_not_finished_their_line_are_bounded_and_the_next_one_is_closed()
    {
        int max = new MuxerOptions().MaxHandshakes;
        var clients = new List<Socket>();
        try
        {
            for (int i = 0; i <= max; i++)
            {
                var c = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                c.Connect(new UnixDomainSocketEndPoint(Path.Combine(_dir, "vm.vsock")));
                clients.Add(c);
                if (i % 8 == 7) Poll();   // keep the listener's backlog short
            }
            Poll();
            Poll();
            Assert.Equal(1UL, _device.ConnectionCounters.HandshakesRejected);
            // the last one was closed at once (EOF); the first max still wait for their line
            var last = clients[max];
            last.ReceiveTimeout = 2000;
            Assert.Equal(0, last.Receive(new byte[8]));
            for (int i = 0; i < max; i++)
            {
                clients[i].Blocking = false;
                var e = Assert.Throws<SocketException>(() => clients[i].Receive(new byte[8]));
                Assert.Equal(SocketError.WouldBlock, e.SocketErrorCode);
            }
            // one of them finishes its line: its slot is free again, and a new client is taken
            clients[0].Send(Encoding.ASCII.GetBytes("CONNECT 52\n"));
            Poll();
            Expect(VirtioVsockOp.Request);
            var next = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            clients.Add(next);
            next.Connect(new UnixDomainSocketEndPoint(Path.Combine(_dir, "vm.vsock")));
            Poll();
            Assert.Equal(1UL, _device.ConnectionCounters.HandshakesRejected);
            next.Blocking = false;
            Assert.Equal(SocketError.WouldBlock, Assert.Throws<SocketException>(() => next.Receive(new byte[8])).SocketErrorCode);
        }
        finally
        {
            foreach (var c in clients) c.Dispose();
        }
    }

    private static int s_acceptedFd = -1;
    private static uint s_acceptedGuestPort;

    [UnmanagedCallersOnly]
    private static void OnAccept(void* user, uint port, uint guestPort, int fd)
    {
        s_acceptedFd = fd;
        s_acceptedGuestPort = guestPort;
    }

    private static Socket Adopt(int fd) => new(new SafeSocketHandle((nint)fd, ownsHandle: true));

    [Fact]
    public void A_program_listening_through_the_fd_api_gets_each_guest_connection_as_an_fd()
    {
        var listener = new CAcceptListener(new AcceptCallback { Fn = &OnAccept }, 0);
        Assert.Equal(0, _device.Listen(77, (uint)VirtioVsockType.Stream, listener, out var why));
        Assert.Equal(-Errno.EEXIST, _device.Listen(77, (uint)VirtioVsockType.Stream, listener, out why));
        Send(VirtioVsockOp.Request, 6000, 77);
        Expect(VirtioVsockOp.Response);
        Assert.True(s_acceptedFd >= 0);
        Assert.Equal(6000u, s_acceptedGuestPort);
        using var program = Adopt(s_acceptedFd);
        program.Blocking = true;
        Send(VirtioVsockOp.Rw, 6000, 77, Encoding.ASCII.GetBytes("ping"));
        var buf = new byte[16];
        Assert.Equal("ping", Encoding.ASCII.GetString(buf, 0, program.Receive(buf)));
        Assert.Equal(0, _device.Unlisten(77, (uint)VirtioVsockType.Stream, out why));
        Assert.Equal(-Errno.ENOENT, _device.Unlisten(77, (uint)VirtioVsockType.Stream, out why));
    }

    [Fact]
    public void A_program_connects_into_the_guest_through_the_fd_api()
    {
        Assert.Equal(0, _device.Connect(90, (uint)VirtioVsockType.Stream, out int fd, out var why));
        using var program = Adopt(fd);
        program.Blocking = true;
        Poll();
        var request = new VirtioVsockHdr(Expect(VirtioVsockOp.Request));
        Assert.Equal(90u, request.DstPort);
        uint hostPort = request.SrcPort;
        Send(VirtioVsockOp.Response, 90, hostPort);
        program.Send(Encoding.ASCII.GetBytes("to guest"));
        Poll();
        var rw = Expect(VirtioVsockOp.Rw);
        Assert.Equal("to guest", Encoding.ASCII.GetString(rw, VirtioVsockHdr.Size, rw.Length - VirtioVsockHdr.Size));
        Assert.Equal(-Errno.ENOTSUP, _device.Connect(90, 9, out _, out why));  // no such type
    }

    [Fact]
    public void Transport_reset_drops_every_connection_and_tells_the_driver()
    {
        using var listener = ListenAt1234();
        using var host = ConnectFromGuest(listener, 5000, out _);

        Assert.Equal(0, _device.TransportReset(out _));
        Poll();
        Assert.Equal(1, _ev.UsedIdx);
        var (id, len) = _ev.UsedElem(0);
        Assert.Equal((uint)VirtioVsockEvent.Size, len);
        var desc = new byte[8];
        _memory.Read(_ev.DescGpa + 16ul * id, desc);
        var ev = new byte[4];
        _memory.Read(System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(desc), ev);
        Assert.Equal((uint)VirtioVsockEventId.TransportReset, System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(ev));
        host.ReceiveTimeout = 2000;
        Assert.Equal(0, host.Receive(new byte[8]));   // the host side was closed
        // the connection is gone: a RW for it now gets a RST
        Send(VirtioVsockOp.Rw, 5000, 1234, new byte[] { 1 });
        Expect(VirtioVsockOp.Rst);
    }

    [Fact]
    public void What_a_connection_counted_stays_in_the_device_totals_after_it_is_freed()
    {
        using var listener = ListenAt1234();
        Assert.Equal(default, _device.EndedConnectionCounters);

        // one connection moves 10 bytes, then breaks a rule (flags on a stream RW): RST, freed
        using var host = ConnectFromGuest(listener, 5000, out _);
        Send(VirtioVsockOp.Rw, 5000, 1234, Encoding.ASCII.GetBytes("0123456789"));
        Send(VirtioVsockOp.Rw, 5000, 1234, new byte[] { 1 }, flags: 1);
        Expect(VirtioVsockOp.Rst);
        Assert.Equal(0, _device.ConnectionSnapshot(Span<VsockNative.Protocol.ConnectionInfo>.Empty));
        var ended = _device.EndedConnectionCounters;
        Assert.Equal(1UL, ended.Malformed);
        Assert.Equal(1UL, ended.ResetsSent);
        Assert.Equal(10UL, ended.BytesToHost);
        Assert.Equal(1UL, _device.ConnectionCounters.ConnectionsClosed);

        // a second one is dropped by TRANSPORT_RESET: its counters are added, the first's stay
        using var host2 = ConnectFromGuest(listener, 5001, out _);
        Send(VirtioVsockOp.Rw, 5001, 1234, Encoding.ASCII.GetBytes("abc"));
        Assert.Equal(0, _device.TransportReset(out _));
        ended = _device.EndedConnectionCounters;
        Assert.Equal(1UL, ended.Malformed);
        Assert.Equal(13UL, ended.BytesToHost);
        Assert.Equal(2UL, ended.DataPacketsFromGuest);   // the malformed RW is not a data packet
        Assert.Equal(5UL, ended.PacketsFromGuest);       // 2 REQUESTs, 2 RWs, the malformed one
        Assert.Equal(2UL, _device.ConnectionCounters.ConnectionsClosed);
    }

    /// <summary>A device reset while the guest lives on (a vhost-user frontend that went away and came
    /// back): host streams are closed at once, and once the device runs again the guest's first rx
    /// buffers carry a RST for each connection it knew, so none of its sockets waits for ever.</summary>
    [Fact]
    public void After_a_device_reset_the_guest_gets_a_rst_for_each_connection_it_knew()
    {
        using var listener = ListenAt1234();
        using var host = ConnectFromGuest(listener, 5000, out _);
        using var host2 = ConnectFromGuest(listener, 5001, out _);

        // stop and remember where the rings are, as a vhost-user backend does, then reset
        Assert.Equal(0, _device.Stop());
        var bases = new ushort[3];
        for (uint q = 0; q < 3; q++) Assert.Equal(0, _device.GetBase(q, out bases[q], out _));
        _device.Reset();
        host.ReceiveTimeout = 2000;
        Assert.Equal(0, host.Receive(new byte[8]));   // the host side sees the end at once
        Assert.Equal(0, _device.ConnectionSnapshot(Span<VsockNative.Protocol.ConnectionInfo>.Empty));

        Assert.Equal(0, _device.SetMemory(_memory.Memory.Regions, out var why));
        Assert.Equal(0, _device.SetFeatures(VirtioTransportFeatures.Version1, out why));
        Setup(QueueIndex.Rx, _rx);
        Setup(QueueIndex.Tx, _tx);
        Setup(QueueIndex.Event, _ev);
        for (uint q = 0; q < 3; q++) Assert.Equal(0, _device.SetBase(q, bases[q], out why));
        Assert.Equal(0, _device.Start(out why));
        Poll();
        var ports = new List<uint>();
        for (int i = 0; i < 2; i++)
        {
            var rst = new VirtioVsockHdr(Expect(VirtioVsockOp.Rst));
            Assert.Equal(1234u, rst.SrcPort);
            Assert.Equal((ushort)VirtioVsockType.Stream, rst.Type);
            ports.Add(rst.DstPort);
        }
        ports.Sort();
        Assert.Equal(new[] { 5000u, 5001u }, ports);
        Assert.Empty(_received);

        // the device works as before: a new connection
        using var host3 = ConnectFromGuest(listener, 5002, out _);
    }

    /// <summary>After a reset, fresh rings (base 0) mean a new driver: it never had the old
    /// connections, and a stale RST could hit a new connection that reuses their ports.</summary>
    [Fact]
    public void After_a_device_reset_fresh_rings_get_no_stale_resets()
    {
        using var listener = ListenAt1234();
        using var host = ConnectFromGuest(listener, 5000, out _);
        string why;
        Assert.Equal(0, _device.Stop());
        _device.Reset();
        Assert.Equal(0, _device.SetMemory(_memory.Memory.Regions, out why));
        Assert.Equal(0, _device.SetFeatures(VirtioTransportFeatures.Version1, out why));
        var rx = new MockSplitQueue(_memory, QueueSize, 0x40000, 0x41000, 0x42000, 0x7C0000, 0x800000);
        Setup(QueueIndex.Rx, rx);
        Setup(QueueIndex.Tx, _tx);
        Setup(QueueIndex.Event, _ev);
        Assert.Equal(0, _device.SetBase(QueueIndex.Tx, _tx.AvailIdx, out why));
        Assert.Equal(0, _device.Start(out why));
        rx.AddChain(new[] { rx.AddWritable(4096) });
        _device.Notify(QueueIndex.Rx, out _);
        Assert.True(_device.Poll(0, out why) >= 0, why);
        Assert.Equal(0, rx.UsedIdx);
    }

    [Fact]
    public void Resets_owed_while_the_guest_posts_no_rx_buffers_are_bounded_counted_and_sent_later()
    {
        _repostRx = false;
        // the 16 posted buffers take the first 16 RSTs; the next MaxPendingResets wait; one more is dropped
        int owed = 16 + new MuxerOptions().MaxPendingResets + 1;
        for (uint i = 0; i < owed; i++) Send(VirtioVsockOp.Rw, 20000 + i, 999, new byte[] { 1 });
        Assert.Equal(16, _received.Count);
        Assert.Equal((ulong)owed, _device.ConnectionCounters.NoConnection);
        Assert.Equal(1UL, _device.ConnectionCounters.ResetsDropped);
        _received.Clear();

        // buffers again: every waiting RST arrives, in order, and the dropped one (the last) never does
        _repostRx = true;
        for (int i = 0; i < 16; i++) PostRx();
        for (int round = 0; round < 200 && _received.Count < owed - 17; round++) Poll();
        Poll();
        Assert.Equal(owed - 17, _received.Count);
        uint expected = 20000 + 16;
        foreach (var p in _received)
        {
            var h = new VirtioVsockHdr(p);
            Assert.Equal((ushort)VirtioVsockOp.Rst, h.Op);
            Assert.Equal(expected++, h.DstPort);
        }
    }

    public void Dispose()
    {
        _device.Dispose();
        _memory.Dispose();
        Marshal.FreeHGlobal(_udsPath);
        Directory.Delete(_dir, true);
    }
}
