using System.Text;
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
        Poll();  // one turn of the loop: one epoll_wait, the wake eventfd drained
        var turn = _device.SyscallCounters;
        Assert.Equal(before.EpollWait + 1, turn.EpollWait);
        Assert.True(turn.EventFdReads > before.EventFdReads);
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
}
