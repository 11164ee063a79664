using System;
using System.IO;
using System.Runtime.InteropServices;
using VsockNative.Device;
using VsockNative.Diagnostics;
using VsockNative.Interop;
using Xunit;
using Xunit.Abstractions;

namespace VsockNative.Tests.Device;

/// <summary>What a device costs before its guest uses it: a VMM may create many, and a fuzzer
/// creates one per input. The datagram buffers (a 256 KiB ring for host datagrams waiting for rx
/// buffers, a 64 KiB pinned reassembly buffer) come with the first datagram, not with the device.</summary>
public sealed unsafe class DeviceFootprintTests
{
    private readonly ITestOutputHelper _out;

    public DeviceFootprintTests(ITestOutputHelper output) => _out = output;

    [Fact]
    public void Creating_a_device_allocates_no_datagram_buffers()
    {
        string dir = Directory.CreateTempSubdirectory("vsn-fp-").FullName;
        nint uds = Marshal.StringToHGlobalAnsi(Path.Combine(dir, "vm.vsock"));
        try
        {
            var config = new DeviceConfig { StructSize = (uint)sizeof(DeviceConfig), GuestCid = 3, Flags = DeviceFlags.ManualPoll, UdsPath = (sbyte*)uds };
            Assert.Equal(0, DeviceOptionsFactory.TryCreate(config, out var options, out var why));
            Assert.NotEqual(0UL, options!.OfferedFeatures & (1UL << 3));    // datagrams offered
            for (int round = 0; round < 3; round++)                        // the first pays for JIT and statics
            {
                long before = GC.GetAllocatedBytesForCurrentThread();
                Assert.Equal(0, VsockDevice.Create(options, Logger.None, out var device));
                long bytes = GC.GetAllocatedBytesForCurrentThread() - before;
                device!.Dispose();
                _out.WriteLine($"round {round}: {bytes} bytes allocated by VsockDevice.Create");
                // 615 336 bytes with both datagram buffers (328 KiB of them); 287 592 without: the rest is mostly
                // the descriptor chains' segment lists (1024 segments, readable and writable, per queue)
                if (round == 2) Assert.True(bytes < 384 * 1024, $"{bytes} bytes allocated by creating a device");
            }
        }
        finally
        {
            Marshal.FreeHGlobal(uds);
            Directory.Delete(dir, true);
        }
    }
}
