using System;
using VsockNative.Connections;
using VsockNative.Device;
using Xunit;

namespace VsockNative.Tests.Device;

/// <summary>The device state blob (BEHAVIOUR.md, "Snapshot and restore"): what is written reads back
/// the same, and any other byte string is refused with a reason, never an exception.</summary>
public class SnapshotCodecTests
{
    private static DeviceSnapshot Sample()
    {
        var queues = new QueueSnapshot[QueueSlot.Count];
        queues[QueueSlot.Rx] = new QueueSnapshot(true, 256, 0x10000, 0x11000, 0x12000, 300, 299, 298, true, true);
        queues[QueueSlot.Tx] = new QueueSnapshot(true, 128, 0x20000, 0x21000, 0x22000, 65535, 65530, 0, false, false);
        queues[QueueSlot.Event] = new QueueSnapshot(true, 16, 0x30000, 0x31000, 0x32000, 8, 0, 0, true, false);
        return new DeviceSnapshot(3, 0x13000000b, 0x120000001, false, 262144, queues,
            new BackendState(0x4000_0005, 0x4000_0000, new[] { (1234u, 1u), (99u, 3u) }));
    }

    private static byte[] Encode(DeviceSnapshot s)
    {
        var b = new byte[SnapshotCodec.SizeOf(s)];
        SnapshotCodec.Encode(s, b);
        return b;
    }

    [Fact]
    public void A_blob_reads_back_what_was_saved()
    {
        var s = Sample();
        var back = SnapshotCodec.Decode(Encode(s), out var why);
        Assert.True(back is not null, why);
        Assert.Equal(s.GuestCid, back!.GuestCid);
        Assert.Equal(s.DriverFeatures, back.DriverFeatures);
        Assert.Equal(s.Queues, back.Queues);
        Assert.Equal(s.Backend.StreamPortNext, back.Backend.StreamPortNext);
        Assert.Equal(s.Backend.Listeners, back.Backend.Listeners);
    }

    [Fact]
    public void Every_truncation_and_every_flipped_byte_is_refused_with_a_reason()
    {
        var blob = Encode(Sample());
        for (int n = 0; n < blob.Length; n++)
        {
            Assert.Null(SnapshotCodec.Decode(blob.AsSpan(0, n), out var why));
            Assert.NotEmpty(why);
        }
        for (int i = 0; i < blob.Length; i++)
        {
            var bad = (byte[])blob.Clone();
            bad[i] ^= 0x01;
            Assert.Null(SnapshotCodec.Decode(bad, out var why));
            Assert.NotEmpty(why);
        }
    }

    [Fact]
    public void Random_bytes_never_throw()
    {
        var rng = new Random(14);
        var blob = Encode(Sample());
        for (int round = 0; round < 2000; round++)
        {
            var b = new byte[rng.Next(0, 400)];
            rng.NextBytes(b);
            if (round % 2 == 0 && b.Length >= 16) blob.AsSpan(0, 16).CopyTo(b);  // a real header, random body
            _ = SnapshotCodec.Decode(b, out _);
        }
    }
}
