using System;
using System.IO;
using System.Net;
using System.Net.Sockets;
using VsockNative.Connections;
using VsockNative.EventLoop;
using VsockNative.Interop;
using VsockNative.Protocol;
using VsockNative.Tests.Protocol;
using VsockNative.Wire;
using Xunit;
using VsockNative.Diagnostics;
using VsockNative.Interop.Native;

namespace VsockNative.Tests.Connections;

/// <summary>The datagram layer alone: guest packets in, real Unix datagram sockets on the host side,
/// rx buffers out, time passed explicitly.</summary>
public sealed class DatagramRouterTests : IDisposable
{
    private const ulong GuestCid = 3;
    private const uint Eom = (uint)VirtioVsockDgramFlags.Eom;
    private readonly string _dir = Directory.CreateTempSubdirectory("vsn-dg-").FullName;
    private readonly NativeBuffers _buffers = new();
    private readonly FakePoll _poll = new();
    private readonly DatagramRouter _router;
    private readonly string _uds;

    public DatagramRouterTests()
    {
        _uds = Path.Combine(_dir, "vm");
        _router = new DatagramRouter(GuestCid, new DatagramOptions { UdsPath = _uds, ReassemblyTimeoutMs = 1000 }, _poll, Logger.None, 1024)
        {
            Enabled = true,
        };
    }

    private static PacketHeader Header(uint src, uint dst, uint len, uint flags, VirtioVsockOp op = VirtioVsockOp.Rw,
        ulong srcCid = GuestCid, ulong dstCid = 2, ushort type = (ushort)VirtioVsockType.Dgram) =>
        new(srcCid, dstCid, src, dst, len, type, (ushort)op, flags, 0, 0);

    private static byte[] Pattern(int n, int seed)
    {
        var b = new byte[n];
        for (int i = 0; i < n; i++) b[i] = (byte)(i * 31 + seed);
        return b;
    }

    private void Fragment(uint src, uint dst, byte[] data, uint flags, long now = 0, params int[] cuts) =>
        _router.OnGuestPacket(Header(src, dst, (uint)data.Length, flags), _buffers.From(data, cuts), now);

    private Socket HostSocket(uint port)
    {
        var s = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        s.Bind(new UnixDomainSocketEndPoint($"{_uds}_{port}"));
        s.Blocking = false;
        return s;
    }

    private static (int Length, string From) Receive(Socket s, byte[] buf)
    {
        EndPoint from = new UnixDomainSocketEndPoint("/x");
        int n = s.ReceiveFrom(buf, ref from);
        return (n, from.ToString()!);
    }

    /// <summary>One rx buffer of <paramref name="size"/> bytes: the header written and the payload.</summary>
    private (PacketHeader Header, byte[] Payload, uint Written) Rx(int size)
    {
        var rx = _buffers.Split(size, size / 3);
        uint written = _router.FillRx(rx);
        if (written == 0) return (default, Array.Empty<byte>(), 0);
        var h = PacketHeader.Read(rx);
        return (h, NativeBuffers.Gather(rx, VirtioVsockHdr.Size, (int)written - VirtioVsockHdr.Size), written);
    }

    [Fact]
    public void Fragments_are_reassembled_in_order_and_reach_the_host_whole_from_the_guest_port_address()
    {
        using var host = HostSocket(7000);
        var data = Pattern(10_000, 1);
        Fragment(6000, 7000, data[..4000], 0, 0, 1000, 3999);
        Fragment(6000, 7000, data[4000..4001], 0);
        Assert.Throws<SocketException>(() => host.Receive(new byte[1]));  // nothing before EOM
        Fragment(6000, 7000, data[4001..], Eom, 0, 7);
        var buf = new byte[70_000];
        var (n, from) = Receive(host, buf);
        Assert.Equal(data, buf[..n]);
        Assert.Equal($"{_uds}-6000", from);
        Assert.Equal(1UL, _router.Counters.GuestToHostDatagrams);
        Assert.Equal(10_000UL, _router.Counters.GuestToHostBytes);
        Assert.Equal(3UL, _router.Counters.FragmentsReceived);
    }

    [Fact]
    public void A_datagram_past_64_KiB_is_dropped_and_the_next_one_goes_through()
    {
        using var host = HostSocket(7000);
        var chunk = Pattern(40_000, 2);
        Fragment(6000, 7000, chunk, 0);
        Fragment(6000, 7000, chunk, 0);       // 80 000 bytes: past the limit
        Fragment(6000, 7000, chunk, Eom);     // the rest of it is discarded up to EOM
        Fragment(6000, 7000, Pattern(65_536, 3), Eom);  // exactly the limit, whole
        var buf = new byte[70_000];
        Assert.Equal(65_536, Receive(host, buf).Length);
        Assert.Equal(Pattern(65_536, 3), buf[..65_536]);
        Assert.Throws<SocketException>(() => host.Receive(buf));
        Assert.Equal(1UL, _router.Counters.DroppedTooBig);
        Assert.Equal(0UL, _router.Counters.DroppedMalformed);
        // one packet past the limit on its own
        Fragment(6000, 7000, Pattern(65_537, 4), Eom);
        Assert.Equal(2UL, _router.Counters.DroppedTooBig);
    }

    [Fact]
    public void A_partial_datagram_is_dropped_at_its_deadline_and_frees_the_reassembly()
    {
        using var host = HostSocket(7000);
        Fragment(6000, 7000, Pattern(100, 5), 0, now: 50);
        Assert.Equal(1050, _router.NextDeadlineMs);
        _router.OnTimer(1049);
        Assert.Equal(0UL, _router.Counters.DroppedReassemblyTimeout);
        _router.OnTimer(1050);
        Assert.Equal(1UL, _router.Counters.DroppedReassemblyTimeout);
        Assert.Equal(long.MaxValue, _router.NextDeadlineMs);
        // the last fragment arriving late is a datagram of its own
        Fragment(6000, 7000, Pattern(10, 6), Eom, now: 2000);
        Assert.Equal(10, Receive(host, new byte[100]).Length);
    }

    [Fact]
    public void Another_datagram_between_fragments_drops_the_partial_one()
    {
        using var host = HostSocket(7000);
        Fragment(6000, 7000, Pattern(100, 7), 0);
        Fragment(6001, 7000, Pattern(20, 8), Eom);
        var buf = new byte[200];
        var (n, from) = Receive(host, buf);
        Assert.Equal(20, n);
        Assert.Equal($"{_uds}-6001", from);
        Fragment(6000, 7000, Pattern(5, 9), Eom);   // not glued to the dropped 100 bytes
        Assert.Equal(5, Receive(host, buf).Length);
        Assert.Equal(1UL, _router.Counters.DroppedMalformed);
    }

    [Fact]
    public void A_stream_packet_between_fragments_drops_the_partial_one()
    {
        Fragment(6000, 7000, Pattern(100, 7), 0);
        _router.OnOtherPacket();
        Assert.Equal(1UL, _router.Counters.DroppedMalformed);
        Assert.Equal(long.MaxValue, _router.NextDeadlineMs);
    }

    public static TheoryData<string, uint, uint, int, uint, ulong> MalformedCases => new()
    {
        // name, op, flags, payload bytes, hdr.len, src_cid
        { "REQUEST is not a datagram op", (uint)VirtioVsockOp.Request, 0, 0, 0, GuestCid },
        { "CREDIT_UPDATE is not a datagram op", (uint)VirtioVsockOp.CreditUpdate, 0, 0, 0, GuestCid },
        { "flag bit 1 is not defined for datagrams", (uint)VirtioVsockOp.Rw, Eom | 2, 4, 4, GuestCid },
        { "hdr.len says 9, 4 bytes follow", (uint)VirtioVsockOp.Rw, Eom, 4, 9, GuestCid },
        { "RST with a payload", (uint)VirtioVsockOp.Rst, 0, 4, 4, GuestCid },
        { "src_cid is not the guest's", (uint)VirtioVsockOp.Rw, Eom, 4, 4, 9 },
    };

    [Theory]
    [MemberData(nameof(MalformedCases))]
    public void Malformed_datagram_packets_are_dropped_and_counted(string name, uint op, uint flags, int bytes, uint len, ulong srcCid)
    {
        using var host = HostSocket(7000);
        _router.OnGuestPacket(Header(6000, 7000, len, flags, (VirtioVsockOp)op, srcCid), _buffers.From(Pattern(bytes, 1)), 0);
        Assert.True(_router.Counters.DroppedMalformed == 1, name);
        Assert.Throws<SocketException>(() => host.Receive(new byte[16]));
        Assert.False(_router.HasPendingRx);  // no reply for a malformed datagram
    }

    [Fact]
    public void Nothing_bound_at_the_host_port_gives_a_dgram_rst_and_is_counted()
    {
        Fragment(6000, 7001, Pattern(10, 1), Eom);
        Assert.Equal(1UL, _router.Counters.DroppedNoListener);
        var (h, payload, written) = Rx(4096);
        Assert.Equal((uint)VirtioVsockHdr.Size, written);
        Assert.Equal((ushort)VirtioVsockOp.Rst, h.Op);
        Assert.Equal((ushort)VirtioVsockType.Dgram, h.Type);
        Assert.Equal((2UL, 7001u, GuestCid, 6000u), (h.SrcCid, h.SrcPort, h.DstCid, h.DstPort));
        Assert.Empty(payload);
        // the guest's own RST (no socket on its side) is counted, never answered
        _router.OnGuestPacket(Header(6000, 7000, 0, 0, VirtioVsockOp.Rst), ReadOnlySpan<IoVec>.Empty, 0);
        Assert.Equal(1UL, _router.Counters.RstReceived);
        Assert.False(_router.HasPendingRx);
    }

    [Fact]
    public void A_host_datagram_is_fragmented_into_rx_buffers_with_eom_only_on_the_last()
    {
        using var host = HostSocket(7000);
        Fragment(6000, 7000, Pattern(1, 0), Eom);    // makes "<uds>-6000"
        var data = Pattern(10_000, 11);
        host.SendTo(data, new UnixDomainSocketEndPoint($"{_uds}-6000"));
        var (tag, _) = _poll.Fds[SocketOf(6000)];
        _router.OnFdEvent(tag, Libc.EPOLLIN, 0);
        var got = new System.Collections.Generic.List<byte>();
        int packets = 0;
        while (_router.HasPendingRx)
        {
            var (h, payload, _) = Rx(VirtioVsockHdr.Size + 3000);
            packets++;
            Assert.Equal((ushort)VirtioVsockType.Dgram, h.Type);
            Assert.Equal((ushort)VirtioVsockOp.Rw, h.Op);
            Assert.Equal((7000u, 6000u), (h.SrcPort, h.DstPort));
            Assert.Equal((0u, 0u), (h.BufAlloc, h.FwdCnt));  // reserved for datagrams
            Assert.Equal((uint)payload.Length, h.Len);
            bool last = got.Count + payload.Length == data.Length;
            Assert.Equal(last ? Eom : 0u, h.Flags);
            Assert.Equal(!last, _router.MustContinue);
            got.AddRange(payload);
        }
        Assert.Equal(4, packets);  // 3000 + 3000 + 3000 + 1000
        Assert.Equal(data, got.ToArray());
        Assert.Equal(1UL, _router.Counters.HostToGuestDatagrams);
    }

    [Fact]
    public void Host_sockets_are_not_read_while_a_largest_datagram_would_not_fit()
    {
        using var host = HostSocket(7000);
        Fragment(6000, 7000, Pattern(1, 0), Eom);
        int fd = SocketOf(6000);
        var to = new UnixDomainSocketEndPoint($"{_uds}-6000");
        for (int i = 0; i < 3; i++) host.SendTo(Pattern(65_536, i), to);
        _router.OnFdEvent(_poll.Fds[fd].Tag, Libc.EPOLLIN, 0);
        Assert.Equal(Libc.EPOLLIN, _poll.Fds[fd].Events);  // three waiting, a fourth still fits
        for (int i = 3; i < 5; i++) host.SendTo(Pattern(65_536, i), to);
        _router.OnFdEvent(_poll.Fds[fd].Tag, Libc.EPOLLIN, 0);
        Assert.Equal(0u, _poll.Fds[fd].Events);      // queue full (4 x 64 KiB): interest dropped
        Assert.Equal(0UL, _router.Counters.DroppedNoRxSpace);
        while (_router.HasPendingRx) Assert.True(Rx(70_000).Written > 0);
        Assert.Equal(Libc.EPOLLIN, _poll.Fds[fd].Events);  // room again
        _router.OnFdEvent(_poll.Fds[fd].Tag, Libc.EPOLLIN, 0);
        var (h, payload, _) = Rx(70_000);
        Assert.Equal(Pattern(65_536, 4), payload);   // the fifth waited in the socket, nothing lost
        Assert.Equal(5UL, _router.Counters.HostToGuestDatagrams);
    }

    [Fact]
    public void Without_dgram_negotiated_datagrams_are_dropped_both_ways()
    {
        using var host = HostSocket(7000);
        Fragment(6000, 7000, Pattern(3, 0), Eom);
        host.SendTo(Pattern(3, 0), new UnixDomainSocketEndPoint($"{_uds}-6000"));
        _router.Enabled = false;
        Fragment(6000, 7000, Pattern(3, 0), Eom);
        _router.OnFdEvent(_poll.Fds[SocketOf(6000)].Tag, Libc.EPOLLIN, 0);
        Assert.Equal(2UL, _router.Counters.DroppedNotNegotiated);
        Assert.False(_router.HasPendingRx);
        Assert.Equal(1UL, _router.Counters.GuestToHostDatagrams);
    }

    [Fact]
    public void Device_owned_sockets_are_bounded_and_expire_when_idle()
    {
        var router = new DatagramRouter(GuestCid, new DatagramOptions { UdsPath = _uds, MaxSockets = 2, SocketIdleMs = 100 }, _poll, Logger.None, 16) { Enabled = true };
        using var host = HostSocket(7000);
        for (uint g = 1; g <= 3; g++)
            router.OnGuestPacket(Header(g, 7000, 1, Eom), _buffers.From(new byte[] { (byte)g }), 10);
        Assert.Equal(2UL, router.Counters.GuestToHostDatagrams);
        Assert.Equal(1UL, router.Counters.SocketsRefused);
        Assert.False(File.Exists($"{_uds}-3"));
        Assert.Equal(110, router.NextDeadlineMs);
        router.OnTimer(110);
        Assert.Equal(2UL, router.Counters.SocketsExpired);
        Assert.False(File.Exists($"{_uds}-1"));
        router.OnGuestPacket(Header(3, 7000, 1, Eom), _buffers.From(new byte[] { 3 }), 200);
        Assert.Equal(3UL, router.Counters.GuestToHostDatagrams);
        router.Dispose();
        Assert.False(File.Exists($"{_uds}-3"));
    }

    [Fact]
    public void A_reset_drops_what_is_in_flight_and_keeps_the_sockets()
    {
        using var host = HostSocket(7000);
        Fragment(6000, 7000, Pattern(1, 0), Eom);
        Assert.Equal(1, Receive(host, new byte[100]).Length);
        host.SendTo(Pattern(10, 1), new UnixDomainSocketEndPoint($"{_uds}-6000"));
        _router.OnFdEvent(_poll.Fds[SocketOf(6000)].Tag, Libc.EPOLLIN, 0);
        Fragment(6000, 7001, Pattern(1, 0), Eom);   // owes a RST
        Fragment(6000, 7000, Pattern(50, 2), 0);    // a partial datagram
        Assert.True(_router.HasPendingRx);
        _router.DropTraffic();
        Assert.False(_router.HasPendingRx);
        Assert.Equal(60_000, _router.NextDeadlineMs);  // the idle socket's deadline only: no partial datagram
        Fragment(6000, 7000, Pattern(5, 3), Eom);   // not glued to the 50 bytes before the reset
        Assert.Equal(5, Receive(host, new byte[100]).Length);
    }

    /// <summary>The fd of the device's socket "&lt;uds&gt;-G" (found by its bound path).</summary>
    private int SocketOf(uint guestPort)
    {
        foreach (var fd in _poll.Fds.Keys)
            if (File.Exists($"/proc/self/fd/{fd}") && SocketPath(fd) == $"{_uds}-{guestPort}") return fd;
        throw new InvalidOperationException($"no socket for guest port {guestPort}");
    }

    private static string SocketPath(int fd)
    {
        using var s = new Socket(new SafeSocketHandle((nint)fd, ownsHandle: false));
        return s.LocalEndPoint?.ToString() ?? "";
    }

    public void Dispose()
    {
        _router.Dispose();
        _buffers.Dispose();
        Directory.Delete(_dir, true);
    }
}
