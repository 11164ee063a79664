using VsockNative.Device;
using VsockNative.Interop;
using VsockNative.Wire;
using Xunit;
using VsockNative.Diagnostics;

namespace VsockNative.Tests.Interop;

public class DeviceOptionsTests
{
    private static DeviceConfig Config(ulong cid) => new() { StructSize = 48, GuestCid = cid };

    [Theory]
    [InlineData(0UL)]            // hypervisor
    [InlineData(1UL)]            // local loopback
    [InlineData(2UL)]            // host
    [InlineData(0xFFFFFFFFUL)]   // VMADDR_CID_ANY
    [InlineData(0x100000000UL)]  // upper 32 bits are reserved
    [InlineData(ulong.MaxValue)]
    public void Reserved_cids_are_rejected_with_a_reason(ulong cid)
    {
        Assert.Equal(-Errno.EINVAL, DeviceOptionsFactory.TryCreate(Config(cid), out var options, out var why));
        Assert.Null(options);
        Assert.Contains("guest_cid", why);
    }

    [Theory]
    [InlineData(3UL)]
    [InlineData(0xFFFFFFFEUL)]
    public void Ordinary_cids_are_accepted_with_the_default_features(ulong cid)
    {
        Assert.Equal(0, DeviceOptionsFactory.TryCreate(Config(cid), out var options, out _));
        Assert.Equal(cid, options!.GuestCid);
        Assert.Equal(DeviceOptions.SupportedFeatures, options.OfferedFeatures);
        Assert.NotEqual(0UL, options.OfferedFeatures & VirtioTransportFeatures.Version1);
    }

    [Fact]
    public void Unsupported_features_are_refused()
    {
        var c = Config(3);
        c.Features = VirtioTransportFeatures.Version1 | (1UL << 50);
        Assert.Equal(-Errno.ENOTSUP, DeviceOptionsFactory.TryCreate(c, out _, out var why));
        Assert.Contains("not supported", why);
    }

    [Fact]
    public void The_config_space_holds_the_cid_little_endian()
    {
        Assert.Equal(0, DeviceOptionsFactory.TryCreate(Config(0x0A0B0C0D), out var options, out _));
        Assert.Equal(0, VsockDevice.Create(options!, Logger.None, out var created));
        using var device = created!;
        var buf = new byte[8];
        Assert.Equal(8, device.ReadConfig(0, buf));
        Assert.Equal(new byte[] { 0x0D, 0x0C, 0x0B, 0x0A, 0, 0, 0, 0 }, buf);
        Assert.Equal(-Errno.EINVAL, device.ReadConfig(1, buf));
        Assert.Equal(-Errno.EINVAL, device.ReadConfig(9, new byte[0]));
    }
}
