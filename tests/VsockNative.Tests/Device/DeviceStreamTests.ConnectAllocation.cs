using System;
using System.Collections.Generic;
using System.IO;
using System.Net.Sockets;
using System.Text;
using VsockNative.Interop;
using VsockNative.Interop.Native;
using VsockNative.Wire;
using Xunit;

namespace VsockNative.Tests.Device;

/// <summary>Opening and closing a connection (guest REQUEST, the device connects to the host listener
/// at "&lt;uds_path&gt;_1234" and answers RESPONSE; the host accepts and closes, the guest resets) allocates
/// no managed memory once warm: the connection, its host stream and its table entry come from the
/// device's spares, the socket address is built without a string. Only the device's own calls are
/// measured (allocation counts, not timings); the mock driver and the host side allocate outside.</summary>
public sealed unsafe partial class DeviceStreamTests
{
    private static readonly byte[] s_control = new byte[VirtioVsockHdr.Size];

    [Fact]
    public void Opening_and_closing_connections_after_warm_up_allocates_nothing()
    {
        int listenFd = SocketCalls.ListenUnix(Path.Combine(_dir, "vm.vsock_1234"), SocketCalls.SOCK_STREAM, 16);
        Assert.True(listenFd >= 0, $"listen: errno {-listenFd}");
        try
        {
            long ignored = 0;
            for (int i = 0; i < 500; i++) OpenAndClose(listenFd, 20000 + (uint)i, ref ignored);  // JIT, tiering, spares
            // A per-connection allocation shows in every window; the runtime may put a little of its own
            // on this thread once in a while, so one window of zero within three is what must be reached.
            var windows = new List<long>();
            for (int w = 0; w < 3 && !windows.Contains(0); w++)
            {
                long allocated = 0;
                for (int i = 0; i < 500; i++) OpenAndClose(listenFd, 30000 + (uint)i, ref allocated);
                windows.Add(allocated);
            }
            Assert.True(windows.Contains(0), "bytes allocated per window of 500 connections: " + string.Join(", ", windows));
            var counters = _device.ConnectionCounters;
            Assert.Equal(counters.ConnectionsOpened, counters.ConnectionsClosed);
            Assert.Equal(0UL, counters.Malformed);
        }
        finally
        {
            Libc.Close(listenFd);
        }
    }

    [Fact]
    public void Host_connections_into_the_guest_after_warm_up_allocate_nothing()
    {
        // vsn_device_connect: a socketpair, a host port (no closure per allocation), a REQUEST; the
        // guest answers, the program closes its end, the guest resets.
        long ignored = 0;
        for (int i = 0; i < 500; i++) HostOpenAndClose(ref ignored);
        var windows = new List<long>();
        for (int w = 0; w < 3 && !windows.Contains(0); w++)
        {
            long allocated = 0;
            for (int i = 0; i < 500; i++) HostOpenAndClose(ref allocated);
            windows.Add(allocated);
        }
        Assert.True(windows.Contains(0), "bytes allocated per window of 500 connections: " + string.Join(", ", windows));
        var counters = _device.ConnectionCounters;
        Assert.Equal(counters.ConnectionsOpened, counters.ConnectionsClosed);
    }

    private void HostOpenAndClose(ref long allocated)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        int rc = _device.Connect(7000, (uint)VirtioVsockType.Stream, out int fd, out _);
        _device.Poll(0, out _);
        allocated += GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, rc);
        Collect();
        var request = new VirtioVsockHdr(_received.Dequeue());
        Assert.Equal((ushort)VirtioVsockOp.Request, request.Op);
        uint hostPort = request.SrcPort;
        SendControlTo(VirtioVsockOp.Response, 7000, hostPort, ref allocated);
        Libc.Close(fd);
        SendControlTo(VirtioVsockOp.Rst, 7000, hostPort, ref allocated);
        Collect();
        _received.Clear();
    }

    private sealed class ClosingListener : VsockNative.Connections.IFdListener
    {
        public int Accepted;
        public void Accept(uint port, uint guestPort, int fd)
        {
            Accepted++;
            Libc.Close(fd);  // the program takes the connection and closes it
        }
    }

    [Fact]
    public void Guest_connections_to_a_program_listener_after_warm_up_allocate_nothing()
    {
        // vsn_device_listen: a socketpair, the accept call made after the device lock is released
        // (a pooled call, the loop's list of calls kept from turn to turn), the guest resets.
        var listener = new ClosingListener();
        Assert.Equal(0, _device.Listen(1234, (uint)VirtioVsockType.Stream, listener, out _));
        long ignored = 0;
        for (int i = 0; i < 500; i++) ListenerOpenAndClose(20000 + (uint)i, ref ignored);
        var windows = new List<long>();
        for (int w = 0; w < 3 && !windows.Contains(0); w++)
        {
            long allocated = 0;
            for (int i = 0; i < 500; i++) ListenerOpenAndClose(30000 + (uint)i, ref allocated);
            windows.Add(allocated);
        }
        Assert.True(windows.Contains(0), "bytes allocated per window of 500 connections: " + string.Join(", ", windows));
        Assert.Equal(500 * (1 + windows.Count), listener.Accepted);
        var counters = _device.ConnectionCounters;
        Assert.Equal(counters.ConnectionsOpened, counters.ConnectionsClosed);
    }

    private void ListenerOpenAndClose(uint guestPort, ref long allocated)
    {
        SendControl(VirtioVsockOp.Request, guestPort, ref allocated);
        Collect();
        Assert.Equal((ushort)VirtioVsockOp.Response, new VirtioVsockHdr(_received.Dequeue()).Op);
        SendControl(VirtioVsockOp.Rst, guestPort, ref allocated);
        Collect();
        _received.Clear();
    }

    [Fact]
    public void A_connection_on_a_freed_connections_spares_starts_clean()
    {
        using var listener = ListenAt1234();
        // A moves data both ways, has bytes of the host's in flight, then the host closes and the guest resets.
        using (var a = ConnectFromGuest(listener, 5000, out _))
        {
            Send(VirtioVsockOp.Rw, 5000, 1234, Encoding.ASCII.GetBytes("for the first host"));
            Assert.Equal(18, a.Receive(new byte[64]));
            a.Send(new byte[3000]);
            Poll();
            Expect(VirtioVsockOp.Rw);
            a.Send(Encoding.ASCII.GetBytes("left behind"));
        }
        Send(VirtioVsockOp.Rst, 5000, 1234);
        _received.Clear();
        Assert.Equal(0, _device.ConnectionSnapshot(Span<VsockNative.Protocol.ConnectionInfo>.Empty));

        // B (the spares' next user) starts as a new connection: credit, counters, stream.
        using var b = ConnectFromGuest(listener, 5001, out var response);
        var r = new VirtioVsockHdr(response);
        Assert.Equal((5001u, 0u, 65536u), (r.DstPort, r.FwdCnt, r.BufAlloc));
        var infos = new VsockNative.Protocol.ConnectionInfo[2];
        Assert.Equal(1, _device.ConnectionSnapshot(infos));
        var info = infos[0];
        Assert.Equal((5001u, 0u, 0u, 0u, 0u), (info.GuestPort, info.RxCnt, info.TxCnt, info.FwdCnt, info.BufferedToHost));
        var expected = new VsockNative.Protocol.ConnectionCounters { PacketsFromGuest = 1, PacketsToGuest = 1 };
        Assert.Equal(expected, info.Counters);  // the REQUEST and the RESPONSE, nothing of A's
        Send(VirtioVsockOp.Rw, 5001, 1234, Encoding.ASCII.GetBytes("second"));
        var buf = new byte[64];
        Assert.Equal("second", Encoding.ASCII.GetString(buf, 0, b.Receive(buf)));
        b.Send(Encoding.ASCII.GetBytes("to B"));
        Poll();
        var rw = Expect(VirtioVsockOp.Rw);
        Assert.Equal(5001u, new VirtioVsockHdr(rw).DstPort);
        Assert.Equal("to B", Encoding.ASCII.GetString(rw, VirtioVsockHdr.Size, rw.Length - VirtioVsockHdr.Size));
    }

    /// <summary>One connection from <paramref name="guestPort"/>: REQUEST -> RESPONSE, host accept and
    /// close, guest RST -> freed; the device's allocations are added to <paramref name="allocated"/>.</summary>
    private void OpenAndClose(int listenFd, uint guestPort, ref long allocated)
    {
        SendControl(VirtioVsockOp.Request, guestPort, ref allocated);
        Collect();
        Assert.Single(_received);
        var response = _received.Dequeue();
        Assert.Equal((ushort)VirtioVsockOp.Response, new VirtioVsockHdr(response).Op);
        int hostFd = SocketCalls.Accept(listenFd);
        Assert.True(hostFd >= 0, $"accept: errno {-hostFd}");
        Libc.Close(hostFd);
        SendControl(VirtioVsockOp.Rst, guestPort, ref allocated);
        Collect();
        _received.Clear();
    }

    /// <summary>A header-only packet from the guest to host port 1234, and one device turn (measured).</summary>
    private void SendControl(VirtioVsockOp op, uint guestPort, ref long allocated) => SendControlTo(op, guestPort, 1234, ref allocated);

    private void SendControlTo(VirtioVsockOp op, uint guestPort, uint hostPort, ref long allocated)
    {
        _ = new VirtioVsockHdr(s_control)
        {
            SrcCid = GuestCid, DstCid = 2, SrcPort = guestPort, DstPort = hostPort, Len = 0,
            Type = (ushort)VirtioVsockType.Stream, Op = (ushort)op, Flags = 0, BufAlloc = 1 << 20, FwdCnt = 0,
        };
        _tx.AddChain(new[] { _tx.AddData(s_control) });
        long before = GC.GetAllocatedBytesForCurrentThread();
        _device.Notify(QueueIndex.Tx, out _);
        int rc = _device.Poll(0, out _);
        allocated += GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(rc >= 0);
    }
}
