using System;
using System.Collections.Generic;
using System.IO;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using VsockNative.Connections;
using VsockNative.Device;
using VsockNative.EventLoop;
using VsockNative.Interop;
using VsockNative.Protocol;
using VsockNative.Tests.Protocol;
using VsockNative.Wire;
using Xunit;
using VsockNative.Diagnostics;
using VsockNative.Interop.Native;

namespace VsockNative.Tests.Device;

/// <summary>SEQPACKET in the connection layer and the device: feature gating, the "&lt;uds_path&gt;_P"
/// SOCK_SEQPACKET endpoint, and the fd API (BEHAVIOUR.md, "Seqpacket").</summary>
public sealed unsafe class DeviceSeqpacketTests : IDisposable
{
    private const ulong GuestCid = 3;
    private readonly string _dir = Directory.CreateTempSubdirectory("vsn-seq-").FullName;
    private readonly NativeBuffers _mem = new();
    private readonly FakePoll _poll = new();
    private readonly Muxer _muxer;

    public DeviceSeqpacketTests()
    {
        _muxer = new Muxer(GuestCid, new MuxerOptions { UdsPath = Path.Combine(_dir, "vm.vsock") }, _poll, Logger.None);
    }

    /// <summary>The muxer's fds as the test sees them: tag per fd.</summary>
    private sealed class FakePoll : IPollRegistry
    {
        public readonly Dictionary<int, ulong> Tags = new();
        public readonly Dictionary<int, uint> Events = new();
        public int Changes;
        public int Add(int fd, ulong tag, uint events) { Tags[fd] = tag; Events[fd] = events; Changes++; return 0; }
        public int Modify(int fd, ulong tag, uint events) { Tags[fd] = tag; Events[fd] = events; Changes++; return 0; }
        public int Remove(int fd) { Tags.Remove(fd); Events.Remove(fd); Changes++; return 0; }
        public void Wake() { }
    }

    private void Send(VirtioVsockOp op, uint srcPort, uint dstPort, byte[]? payload = null, uint flags = 0,
        VirtioVsockType type = VirtioVsockType.Seqpacket)
    {
        payload ??= Array.Empty<byte>();
        var h = new PacketHeader(GuestCid, 2, srcPort, dstPort, (uint)payload.Length, (ushort)type, (ushort)op, flags, 65536, 0);
        _muxer.OnGuestPacket(h, _mem.From(payload), 0);
    }

    private (PacketHeader Header, byte[] Payload)? Receive()
    {
        IoVec[] rx = _mem.Split(4096);
        uint n = _muxer.FillRx(rx, 0);
        if (n == 0) return null;
        var h = PacketHeader.Read(rx);
        return (h, NativeBuffers.Gather(rx, VirtioVsockHdr.Size, (int)h.Len));
    }

    private void HostReadable()
    {
        foreach (var (fd, tag) in _poll.Tags)
            if (PollTag.Kind(tag) == PollTag.Connection) _muxer.OnFdEvent(tag, Libc.EPOLLIN, 0);
    }

    private Socket SeqpacketListener(uint port)
    {
        var l = new Socket(AddressFamily.Unix, SocketType.Seqpacket, ProtocolType.Unspecified);
        l.Bind(new UnixDomainSocketEndPoint(Path.Combine(_dir, $"vm.vsock_{port}")));
        l.Listen(4);
        return l;
    }

    [Fact]
    public void The_device_offers_seqpacket()
    {
        Assert.NotEqual(0ul, DeviceOptions.SupportedFeatures & VirtioVsockFeatures.Seqpacket);
        Assert.Equal(1, VirtioVsockFeatures.SeqpacketBit);
    }

    [Fact]
    public void A_seqpacket_request_without_the_negotiated_feature_is_reset_and_counted()
    {
        using Socket listener = SeqpacketListener(1234);
        Send(VirtioVsockOp.Request, 5000, 1234);
        var rst = Receive()!.Value.Header;
        Assert.Equal((ushort)VirtioVsockOp.Rst, rst.Op);
        Assert.Equal((ushort)VirtioVsockType.Seqpacket, rst.Type);
        Assert.Equal(1ul, _muxer.Counters.SeqpacketNotNegotiated);
        Assert.Equal(0ul, _muxer.Counters.ConnectionsOpened);
        Assert.False(listener.Poll(0, SelectMode.SelectRead)); // nobody connected to the host listener
    }

    [Fact]
    public void With_the_feature_a_guest_connects_to_a_seqpacket_listener_and_boundaries_hold_both_ways()
    {
        _muxer.SeqpacketNegotiated = true;
        using Socket listener = SeqpacketListener(1234);
        Send(VirtioVsockOp.Request, 5000, 1234);
        Assert.Equal((ushort)VirtioVsockOp.Response, Receive()!.Value.Header.Op);
        using Socket host = listener.Accept();
        Assert.Equal(SocketType.Seqpacket, host.SocketType);

        Send(VirtioVsockOp.Rw, 5000, 1234, new byte[] { 1, 2, 3 }, (uint)VirtioVsockRw.Eom);
        Send(VirtioVsockOp.Rw, 5000, 1234, new byte[] { 4 }, 0);
        Send(VirtioVsockOp.Rw, 5000, 1234, new byte[] { 5 }, (uint)VirtioVsockRw.Eom);
        var buf = new byte[16];
        Assert.Equal(3, host.Receive(buf)); // one message per receive: never merged
        Assert.Equal(2, host.Receive(buf));
        Assert.Equal(new byte[] { 4, 5 }, buf[..2]);

        host.Send(new byte[] { 7, 7 });
        host.Send(new byte[] { 8 });
        HostReadable();
        var a = Receive()!.Value;
        var b = Receive()!.Value;
        Assert.Equal(new byte[] { 7, 7 }, a.Payload);
        Assert.Equal(new byte[] { 8 }, b.Payload);
        Assert.Equal((uint)VirtioVsockRw.Eom, a.Header.Flags);
        Assert.Equal((uint)VirtioVsockRw.Eom, b.Header.Flags);
    }

    private uint ConnectionInterest()
    {
        foreach (var (fd, tag) in _poll.Tags)
            if (PollTag.Kind(tag) == PollTag.Connection) return _poll.Events[fd];
        throw new InvalidOperationException("no connection fd registered");
    }

    private Socket EstablishedSeqpacket()
    {
        _muxer.SeqpacketNegotiated = true;
        var listener = SeqpacketListener(1234);
        Send(VirtioVsockOp.Request, 5000, 1234);
        Assert.Equal((ushort)VirtioVsockOp.Response, Receive()!.Value.Header.Op);
        var host = listener.Accept();
        listener.Dispose();
        return host;
    }

    [Fact]
    public void Read_interest_is_not_changed_per_message_while_the_device_keeps_up()
    {
        using Socket host = EstablishedSeqpacket();
        Assert.NotEqual(0u, ConnectionInterest() & Libc.EPOLLIN);
        int before = _poll.Changes;
        for (int i = 0; i < 20; i++)
        {
            host.Send(new byte[64]);
            HostReadable();
            Assert.Equal(64, Receive()!.Value.Payload.Length);
            Assert.Null(Receive());  // read empty
        }
        // two epoll_ctl per message before (interest off while readable, on once read empty)
        Assert.Equal(before, _poll.Changes);
        Assert.NotEqual(0u, ConnectionInterest() & Libc.EPOLLIN);
    }

    [Fact]
    public void Read_interest_goes_while_reads_wait_for_rx_buffers_and_comes_back_when_the_socket_is_read_empty()
    {
        using Socket host = EstablishedSeqpacket();
        for (int i = 0; i < 3; i++) host.Send(new byte[100 + i]);
        HostReadable();                 // epoll: readable; no rx buffer is posted, nothing is read
        Assert.NotEqual(0u, ConnectionInterest() & Libc.EPOLLIN);
        HostReadable();                 // readable again at the next wait (level): reading stalls
        Assert.Equal(0u, ConnectionInterest() & Libc.EPOLLIN);  // so the loop does not spin on it
        for (int i = 0; i < 3; i++) Assert.Equal(100 + i, Receive()!.Value.Payload.Length);
        Assert.Null(Receive());         // read empty: watched again
        Assert.NotEqual(0u, ConnectionInterest() & Libc.EPOLLIN);
    }

    [Fact]
    public void Each_host_message_costs_one_socket_read_without_a_peek()
    {
        _muxer.SeqpacketNegotiated = true;
        using Socket listener = SeqpacketListener(1234);
        Send(VirtioVsockOp.Request, 5000, 1234);
        Assert.Equal((ushort)VirtioVsockOp.Response, Receive()!.Value.Header.Op);
        using Socket host = listener.Accept();
        for (int i = 0; i < 10; i++) host.Send(new byte[64 + i]);
        host.Send(new byte[5000]);  // larger than the 4 KiB rx buffer: its rest waits in the device

        var block = new SyscallCounterBlock();
        var previous = SyscallCount.Enter(block);
        var sizes = new List<int>();
        try
        {
            HostReadable();
            for (var p = Receive(); p is not null; p = Receive())
            {
                Assert.Equal(sizes.Count < 10 || sizes.Count == 11 ? (uint)VirtioVsockRw.Eom : 0u, p.Value.Header.Flags);
                sizes.Add(p.Value.Payload.Length);
            }
        }
        finally { SyscallCount.Exit(previous); }
        Assert.Equal([64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 4052, 948], sizes);
        // eleven messages and the would-block that ends them; a peek per message would make it 23
        Assert.Equal(12ul, block.Values.SocketReads);
    }

    [Fact]
    public void A_seqpacket_request_to_a_stream_listener_is_refused()
    {
        _muxer.SeqpacketNegotiated = true;
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(Path.Combine(_dir, "vm.vsock_1234")));
        listener.Listen(4);
        Send(VirtioVsockOp.Request, 5000, 1234);
        Assert.Equal((ushort)VirtioVsockOp.Rst, Receive()!.Value.Header.Op);
        Assert.Equal(1ul, _muxer.Counters.RefusedNoListener);
    }

    [Fact]
    public void The_fd_api_gives_seqpacket_sockets_only_once_the_driver_negotiated_the_feature()
    {
        var config = new DeviceConfig { StructSize = (uint)sizeof(DeviceConfig), GuestCid = GuestCid, Flags = DeviceFlags.ManualPoll };
        Assert.Equal(0, DeviceOptionsFactory.TryCreate(config, out var options, out var why));
        Assert.Equal(0, VsockDevice.Create(options!, Logger.None, out var device));
        using (device)
        {
            Assert.Equal(0, device!.SetFeatures(VirtioTransportFeatures.Version1 | VirtioVsockFeatures.Stream, out why));
            Assert.Equal(-Errno.ENOTSUP, device.Connect(90, (uint)VirtioVsockType.Seqpacket, out int fd, out why));
            Assert.Contains("VIRTIO_VSOCK_F_SEQPACKET", why);
            Assert.Equal(0, device.SetFeatures(VirtioTransportFeatures.Version1 | VirtioVsockFeatures.Seqpacket, out why));
            Assert.Equal(0, device.Connect(90, (uint)VirtioVsockType.Seqpacket, out fd, out why));
            using var program = new Socket(new SafeSocketHandle((nint)fd, ownsHandle: true));
            Assert.Equal(SocketType.Seqpacket, program.SocketType);
            Assert.Equal(-Errno.ENOTSUP, device.Connect(90, 9u, out _, out why));  // no such socket type
            // a stream and a seqpacket listener may share a port; each type is removed on its own
            var listener = new CAcceptListener(default, 0);
            Assert.Equal(0, device.Listen(77, (uint)VirtioVsockType.Stream, listener, out why));
            Assert.Equal(0, device.Listen(77, (uint)VirtioVsockType.Seqpacket, listener, out why));
            Assert.Equal(-Errno.EEXIST, device.Listen(77, (uint)VirtioVsockType.Seqpacket, listener, out why));
            Assert.Equal(0, device.Unlisten(77, (uint)VirtioVsockType.Seqpacket, out why));
            Assert.Equal(-Errno.ENOENT, device.Unlisten(77, (uint)VirtioVsockType.Seqpacket, out why));
            Assert.Equal(0, device.Unlisten(77, (uint)VirtioVsockType.Stream, out why));
        }
    }

    public void Dispose()
    {
        _muxer.Dispose();
        _mem.Dispose();
        Directory.Delete(_dir, true);
    }
}
