using System;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using VsockNative.Connections;
using VsockNative.Endpoints;
using VsockNative.Interop;
using VsockNative.Wire;
using Xunit;
using VsockNative.Diagnostics;
using VsockNative.Interop.Native;

namespace VsockNative.Tests.Device;

// Sibling routing (Protocol/BEHAVIOUR.md, "Sibling routing"): the originating side (REQUEST to
// another CID -> router -> RESPONSE only after the acceptance byte) and the target side
// (ConnectFrom: REQUEST from the sibling's address, acceptance byte when the guest answers).
public sealed unsafe partial class DeviceStreamTests
{
    private static int s_routeFd = -1;
    private static ulong s_routeDstCid, s_routeSrcCid;
    private static uint s_routeDstPort, s_routeSrcPort;
    private static int s_routeResult;

    [UnmanagedCallersOnly]
    private static int OnRoute(void* user, ulong dstCid, uint dstPort, ulong srcCid, uint srcPort, int fd)
    {
        s_routeDstCid = dstCid;
        s_routeDstPort = dstPort;
        s_routeSrcCid = srcCid;
        s_routeSrcPort = srcPort;
        if (s_routeResult == 0) s_routeFd = fd;
        return s_routeResult;
    }

    private static Socket AdoptBlocking(int fd)
    {
        var socket = Adopt(fd);
        socket.Blocking = true;
        return socket;
    }

    private void InstallRouter(int result)
    {
        s_routeFd = -1;
        s_routeResult = result;
        Assert.Equal(0, _device.SetRouter(new CStreamRouter(new RouteCallback { Fn = &OnRoute }, 0), out _));
    }

    [Fact]
    public void Without_a_router_a_request_to_another_cid_is_reset_from_that_cid()
    {
        Send(VirtioVsockOp.Request, 5000, 80, dstCid: 4);
        var rst = new VirtioVsockHdr(Expect(VirtioVsockOp.Rst, srcCid: 4));
        Assert.Equal(80u, rst.SrcPort);
        Assert.Equal(1UL, _device.ConnectionCounters.UnknownDestination);
    }

    [Fact]
    public void A_routed_request_is_answered_only_after_the_sibling_accepted_then_data_flows()
    {
        InstallRouter(0);
        Send(VirtioVsockOp.Request, 5000, 80, dstCid: 4);
        Poll();
        Assert.True(s_routeFd >= 0, "the router was not called");
        Assert.Equal((4UL, 80u, GuestCid, 5000u), (s_routeDstCid, s_routeDstPort, s_routeSrcCid, s_routeSrcPort));
        Assert.Empty(_received);  // no RESPONSE before the sibling guest accepted
        using var sibling = AdoptBlocking(s_routeFd);
        sibling.Send(new[] { Muxer.RouteAccepted });
        sibling.Send(Encoding.ASCII.GetBytes("from 4"));
        Poll();
        Expect(VirtioVsockOp.Response, srcCid: 4);
        Poll();
        var rw = Expect(VirtioVsockOp.Rw, srcCid: 4);
        Assert.Equal("from 4", Encoding.ASCII.GetString(rw, VirtioVsockHdr.Size, rw.Length - VirtioVsockHdr.Size));
        Send(VirtioVsockOp.Rw, 5000, 80, Encoding.ASCII.GetBytes("from 3"), dstCid: 4);
        var buf = new byte[16];
        Assert.Equal("from 3", Encoding.ASCII.GetString(buf, 0, sibling.Receive(buf)));
        Assert.Equal(1UL, _device.ConnectionCounters.RoutesOpened);
    }

    [Fact]
    public void A_request_the_router_refuses_is_reset_and_its_fd_closed()
    {
        InstallRouter(-Errno.EHOSTUNREACH);
        Send(VirtioVsockOp.Request, 5000, 80, dstCid: 9);
        Poll();
        Expect(VirtioVsockOp.Rst, srcCid: 9);
        Assert.Equal(1UL, _device.ConnectionCounters.RoutesRefused);
    }

    [Fact]
    public void A_sibling_that_closes_before_accepting_gets_the_guest_a_reset()
    {
        InstallRouter(0);
        Send(VirtioVsockOp.Request, 5000, 80, dstCid: 4);
        Poll();
        Assert.True(s_routeFd >= 0);
        AdoptBlocking(s_routeFd).Dispose();  // the target guest refused: the target device closed its end
        Poll();
        Expect(VirtioVsockOp.Rst, srcCid: 4);
        Assert.Equal(1UL, _device.ConnectionCounters.RoutesRefused);
        Assert.Equal(0UL, _device.ConnectionCounters.RoutesOpened);
    }

    [Fact]
    public void A_guest_that_withdraws_its_routed_request_closes_the_pair_without_a_reply()
    {
        InstallRouter(0);
        Send(VirtioVsockOp.Request, 5000, 80, dstCid: 4);
        Poll();
        using var sibling = AdoptBlocking(s_routeFd);
        Send(VirtioVsockOp.Rst, 5000, 80, dstCid: 4);
        Poll();
        Assert.Empty(_received);
        sibling.ReceiveTimeout = 2000;
        Assert.Equal(0, sibling.Receive(new byte[4]));  // end of stream: the target resets its guest
    }

    [Fact]
    public void Connect_from_a_sibling_shows_the_siblings_address_and_greets_once_accepted()
    {
        Assert.Equal(0, SocketCalls.Pair(SocketCalls.SOCK_STREAM, out int mine, out int theirs));
        using var origin = AdoptBlocking(mine);
        Assert.Equal(0, _device.ConnectFrom(90, (uint)VirtioVsockType.Stream, 4, 7000, theirs, out var why));
        Poll();
        var request = new VirtioVsockHdr(Expect(VirtioVsockOp.Request, srcCid: 4));
        Assert.Equal((90u, 7000u), (request.DstPort, request.SrcPort));
        Send(VirtioVsockOp.Response, 90, 7000, dstCid: 4);
        Poll();
        var buf = new byte[16];
        Assert.Equal(1, origin.Receive(buf, 1, SocketFlags.None));
        Assert.Equal(Muxer.RouteAccepted, buf[0]);
        Send(VirtioVsockOp.Rw, 90, 7000, Encoding.ASCII.GetBytes("hi"), dstCid: 4);
        Assert.Equal("hi", Encoding.ASCII.GetString(buf, 0, origin.Receive(buf)));
        Assert.Equal(1UL, _device.ConnectionCounters.RoutedIn);

        // Validate, then assign: refused arguments leave the fd with the caller.
        Assert.Equal(0, SocketCalls.Pair(SocketCalls.SOCK_STREAM, out int a, out int b));
        using var keepA = AdoptBlocking(a);
        using var keepB = AdoptBlocking(b);
        Assert.Equal(-Errno.EADDRINUSE, _device.ConnectFrom(90, (uint)VirtioVsockType.Stream, 4, 7000, b, out why));
        Assert.Equal(-Errno.EINVAL, _device.ConnectFrom(90, (uint)VirtioVsockType.Stream, 2, 7001, b, out why));
        Assert.Equal(-Errno.EINVAL, _device.ConnectFrom(90, (uint)VirtioVsockType.Stream, GuestCid, 7001, b, out why));
        Assert.Equal(-Errno.ENOTSUP, _device.ConnectFrom(90, (uint)VirtioVsockType.Dgram, 4, 7001, b, out why));
        Assert.Equal(-Errno.EBADF, _device.ConnectFrom(90, (uint)VirtioVsockType.Stream, 4, 7001, -1, out why));
        keepB.Send(new byte[] { 1 });  // still open: nobody closed it
    }

    [Fact]
    public void A_sibling_connection_the_guest_refuses_closes_the_pair()
    {
        Assert.Equal(0, SocketCalls.Pair(SocketCalls.SOCK_STREAM, out int mine, out int theirs));
        using var origin = AdoptBlocking(mine);
        Assert.Equal(0, _device.ConnectFrom(91, (uint)VirtioVsockType.Stream, 4, 7002, theirs, out _));
        Poll();
        Expect(VirtioVsockOp.Request, srcCid: 4);
        Send(VirtioVsockOp.Rst, 91, 7002, dstCid: 4);
        Poll();
        origin.ReceiveTimeout = 2000;
        Assert.Equal(0, origin.Receive(new byte[4]));  // closed without the acceptance byte
    }
}
