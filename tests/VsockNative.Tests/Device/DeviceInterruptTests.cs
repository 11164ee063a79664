using System;
using System.IO;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using VsockNative.Device;
using VsockNative.Diagnostics;
using VsockNative.Interop;
using VsockNative.Interop.Native;
using VsockNative.Tests.Memory;
using VsockNative.Tests.Virtqueue;
using VsockNative.Wire;
using Xunit;

namespace VsockNative.Tests.Device;

/// <summary>Interrupts are delivered at the end of the loop's turn, one write per distinct call
/// eventfd: a VMM with one interrupt line for the device gives every queue the same eventfd.</summary>
public sealed unsafe class DeviceInterruptTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("vsn-irq-").FullName;
    private readonly MockGuestMemory _memory = new(new MockRegion(0x10000, 8 << 20));
    private readonly MockSplitQueue _rx, _tx, _ev;
    private readonly nint _udsPath;
    private readonly int[] _callFds;
    private readonly VsockDevice _device;

    public DeviceInterruptTests() : this(shared: true) { }

    private DeviceInterruptTests(bool shared)
    {
        _rx = new MockSplitQueue(_memory, 16, 0x10000, 0x11000, 0x12000, 0x100000, 0x400000);
        _tx = new MockSplitQueue(_memory, 16, 0x20000, 0x21000, 0x22000, 0x400000, 0x700000);
        _ev = new MockSplitQueue(_memory, 8, 0x30000, 0x31000, 0x32000, 0x700000, 0x800000);
        _udsPath = Marshal.StringToHGlobalAnsi(Path.Combine(_dir, "vm.vsock"));
        int one = Libc.EventFd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK);
        _callFds = shared ? new[] { one, one, one }
                          : new[] { one, Libc.EventFd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK), Libc.EventFd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK) };
        var config = new DeviceConfig { StructSize = (uint)sizeof(DeviceConfig), GuestCid = 3, Flags = DeviceFlags.ManualPoll, UdsPath = (sbyte*)_udsPath, BufAlloc = 65536 };
        Assert.Equal(0, DeviceOptionsFactory.TryCreate(config, out var options, out var why));
        Assert.Equal(0, VsockDevice.Create(options!, Logger.None, out var device));
        _device = device!;
        Assert.Equal(0, _device.SetMemory(_memory.Memory.Regions, out why));
        Assert.Equal(0, _device.SetFeatures(VirtioTransportFeatures.Version1, out why));
        var queues = new[] { _rx, _tx, _ev };
        for (uint i = 0; i < 3; i++)
        {
            var q = queues[i];
            Assert.Equal(0, _device.SetupQueue(i, new QueueSettings(q.Size, q.DescGpa, q.AvailGpa, q.UsedGpa, -1, _callFds[i], null), out why));
        }
        Assert.Equal(0, _device.Start(out why));
        for (int i = 0; i < 4; i++) _rx.AddChain(new[] { _rx.AddWritable(4096) });
        _device.Poll(0, out _);
        Drain();
    }

    public static DeviceInterruptTests Separate() => new(shared: false);

    public void Dispose()
    {
        _device.Dispose();
        foreach (int fd in new System.Collections.Generic.HashSet<int>(_callFds)) Libc.Close(fd);
        Marshal.FreeHGlobal(_udsPath);
        _memory.Dispose();
        Directory.Delete(_dir, true);
    }

    /// <summary>Reads every call eventfd: how many writes each received since the last look.</summary>
    private ulong[] Drain()
    {
        var got = new ulong[_callFds.Length];
        for (int i = 0; i < _callFds.Length; i++)
        {
            ulong v = 0;
            if (Libc.Read(_callFds[i], &v, 8) == 8) got[i] = v;
        }
        return got;
    }

    /// <summary>A REQUEST to a host listener: the tx queue returns the chain and the rx queue gets the
    /// RESPONSE in the same turn; both queues want an interrupt.</summary>
    private void RequestAndResponse(Socket listener)
    {
        var packet = new byte[VirtioVsockHdr.Size];
        _ = new VirtioVsockHdr(packet)
        {
            SrcCid = 3, DstCid = 2, SrcPort = 5000, DstPort = 1234, Type = (ushort)VirtioVsockType.Stream,
            Op = (ushort)VirtioVsockOp.Request, BufAlloc = 1 << 20,
        };
        _tx.AddChain(new[] { _tx.AddData(packet) });
        _device.Notify(QueueIndex.Tx, out _);
        ulong rxBefore = _device.Counters.RxPackets;
        Assert.True(_device.Poll(0, out var why) >= 0, why);
        Assert.Equal(rxBefore + 1, _device.Counters.RxPackets);   // the RESPONSE, in the same turn
        Assert.Equal((ushort)1, _tx.UsedIdx);
    }

    private Socket Listen()
    {
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(Path.Combine(_dir, "vm.vsock_1234")));
        listener.Listen(4);
        return listener;
    }

    [Fact]
    public void Queues_sharing_one_call_eventfd_get_one_write_per_turn()
    {
        using var listener = Listen();
        ulong before = _device.Counters.Interrupts;
        RequestAndResponse(listener);
        Assert.Equal(new ulong[] { 1, 0, 0 }, Drain());    // one write, though two queues wanted one
        Assert.Equal(before + 1, _device.Counters.Interrupts);
    }

    [Fact]
    public void Queues_with_their_own_call_eventfd_each_get_theirs()
    {
        using var t = Separate();
        using var listener = t.Listen();
        ulong before = t._device.Counters.Interrupts;
        t.RequestAndResponse(listener);
        Assert.Equal(new ulong[] { 1, 1, 0 }, t.Drain());   // rx (queue 0) and tx (queue 1)
        Assert.Equal(before + 2, t._device.Counters.Interrupts);
    }
}
