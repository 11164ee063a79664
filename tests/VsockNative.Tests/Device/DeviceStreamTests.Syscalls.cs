using System;
using System.Text;
using VsockNative.Interop;
using VsockNative.Wire;
using Xunit;

namespace VsockNative.Tests.Device;

// The device counts its event loop's syscalls by kind (vsn_device_counters.syscalls): what a packet
// costs in syscalls is what batching changes, so it must be exact.
public sealed partial class DeviceStreamTests
{
    [Fact]
    public void The_loop_counts_its_own_syscalls_by_kind()
    {
        using var listener = ListenAt1234();
        using var host = ConnectFromGuest(listener, 5000, out _);
        var before = _device.SyscallCounters;
        Poll();  // one turn of the loop: one epoll_wait; kicks made while nobody slept need no eventfd
        var turn = _device.SyscallCounters;
        Assert.Equal(before.EpollWait + 1, turn.EpollWait);
        Assert.Equal(before.EventFdReads, turn.EventFdReads);
        Assert.Equal(before.SocketWrites, turn.SocketWrites);

        // one guest RW packet to the host is one sendmsg on the host socket
        Send(VirtioVsockOp.Rw, 5000, 1234, Encoding.ASCII.GetBytes("one packet"));
        var sent = _device.SyscallCounters;
        Assert.Equal(turn.SocketWrites + 1, sent.SocketWrites);
        var got = new byte[64];
        Assert.Equal(10, host.Receive(got));
        // syscalls made outside the loop (this test's own socket calls) are not the device's
        Assert.Equal(sent.SocketReads, _device.SyscallCounters.SocketReads);
    }

    [Fact]
    public void A_guest_connection_registers_its_host_fd_once_and_removes_it_once()
    {
        // Regression (connect_rate): the fd was added with no interest when the REQUEST came and
        // modified for reading when the RESPONSE went out a moment later in the same turn: three
        // epoll_ctl per connection. Now the add waits for the end of the turn: one ADD, one DEL.
        using var listener = ListenAt1234();
        var before = _device.SyscallCounters;
        using var host = ConnectFromGuest(listener, 5000, out _);
        Poll();  // the next wait: nothing more to register
        Assert.Equal(before.EpollCtl + 1, _device.SyscallCounters.EpollCtl);
        var open = _device.SyscallCounters;
        Send(VirtioVsockOp.Rst, 5000, 1234);
        Assert.Equal(open.EpollCtl + 1, _device.SyscallCounters.EpollCtl);
        Assert.Equal(0, _device.ConnectionSnapshot(Span<VsockNative.Protocol.ConnectionInfo>.Empty));
    }

    [Fact]
    public void A_host_that_hangs_up_while_the_response_waits_for_an_rx_buffer_is_seen_by_epoll()
    {
        // The fd of a connection whose RESPONSE has no rx buffer yet is registered before the loop
        // waits (with no interest), so epoll reports the host's hangup then, as it always did.
        using var listener = ListenAt1234();
        _repostRx = false;
        for (uint port = 6000; _rx.AvailIdx != _rx.UsedIdx; port++)  // the guest's rx buffers run out
            Send(VirtioVsockOp.Request, port, 999);
        _received.Clear();
        Send(VirtioVsockOp.Request, 5000, 1234);
        Assert.Empty(_received);
        listener.Accept().Dispose();  // the host accepts and closes at once
        Poll();                       // epoll reports the hangup
        var infos = new VsockNative.Protocol.ConnectionInfo[1];
        Assert.Equal(1, _device.ConnectionSnapshot(infos));
        Assert.Equal(1UL, infos[0].Counters.HostHangups);
        _repostRx = true;
        for (int i = 0; i < 4; i++) PostRx();
        Poll();
        Expect(VirtioVsockOp.Response);
        var shutdown = new VirtioVsockHdr(Expect(VirtioVsockOp.Shutdown));
        Assert.NotEqual(0u, shutdown.Flags & (uint)VirtioVsockShutdown.Rcv);  // the hangup's: the host takes no more
    }

    [Fact]
    public void Host_to_guest_data_fills_many_small_rx_buffers_per_socket_read()
    {
        using var listener = ListenAt1234();
        using var host = ConnectFromGuest(listener, 5000, out _);
        var sent = new byte[64 * 1024];
        for (int i = 0; i < sent.Length; i++) sent[i] = (byte)(i * 13 + (i >> 9));
        Assert.Equal(sent.Length, host.Send(sent));
        var before = _device.SyscallCounters;
        var got = new System.IO.MemoryStream();
        for (int turn = 0; turn < 20 && got.Length < sent.Length; turn++)
        {
            Poll();
            while (_received.Count > 0)
            {
                var p = _received.Dequeue();
                Assert.Equal((ushort)VirtioVsockOp.Rw, new VirtioVsockHdr(p).Op);
                got.Write(p, VirtioVsockHdr.Size, p.Length - VirtioVsockHdr.Size);
            }
        }
        Assert.Equal(sent, got.ToArray());
        // 17 rx buffers of 4096 bytes; one recvmsg each without reading ahead
        ulong reads = _device.SyscallCounters.SocketReads - before.SocketReads;
        Assert.True(reads <= 4, $"{reads} socket reads for 64 KiB into 4 KiB rx buffers");
    }

    [Fact]
    public void A_kick_while_nobody_waits_costs_no_eventfd_and_a_kick_wakes_a_waiting_poll()
    {
        using var listener = ListenAt1234();
        using var host = ConnectFromGuest(listener, 5000, out _);
        var before = _device.SyscallCounters;
        for (int i = 0; i < 20; i++)
        {
            Send(VirtioVsockOp.Rw, 5000, 1234, Encoding.ASCII.GetBytes("0123456789"));  // kick, then poll(0)
            Assert.Equal(10, host.Receive(new byte[64]));
        }
        var after = _device.SyscallCounters;
        Assert.Equal(before.EventFdReads, after.EventFdReads);   // no wake-up to drain: 20 before
        Assert.Equal(before.SocketWrites + 20, after.SocketWrites);

        // A thread asleep in poll(-1) is woken by a kick from another thread, every time: the packet
        // made available before the kick is processed (no lost wake-up, whichever comes first).
        for (int round = 0; round < 200; round++)
        {
            ulong target = _device.Counters.TxPackets + 1;
            var waiter = new System.Threading.Thread(() =>
            {
                while (_device.Counters.TxPackets < target)   // woken for something else: wait again
                    if (_device.Poll(-1, out _) < 0) return;
            });
            waiter.Start();
            if (round % 2 == 0) System.Threading.Thread.Sleep(1);  // asleep by now, or about to be
            PutTx(VirtioVsockOp.Rw, 5000, 1234, Encoding.ASCII.GetBytes("x"));
            _device.Notify(QueueIndex.Tx, out _);
            Assert.True(waiter.Join(30_000), $"round {round}: poll(-1) was not woken by the kick");
            Assert.Equal(1, host.Receive(new byte[8]));
        }
    }
}
