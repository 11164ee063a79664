using System;
using System.Buffers.Binary;
using VsockNative.Connections;
using VsockNative.Diagnostics;
using VsockNative.Endpoints;
using VsockNative.Interop;
using VsockNative.Virtqueue;

namespace VsockNative.Device;

/// <summary>
/// The byte format of a <see cref="DeviceSnapshot"/> (all little-endian), size first:
/// <code>
///   0 u32 magic "VSNS"      4 u16 format version   6 u16 ABI major
///   8 u32 total size       12 u32 CRC-32 of bytes [16, size)
///  16 u64 guest CID        24 u64 offered features 32 u64 driver features
///  40 u32 option flags (bit 0: separate datagram queues)   44 u32 buf_alloc
///  48 u32 queue slots (5), then 5 x 40 bytes:
///     u32 flags (bit 0 configured, 1 kicks enabled, 2 signalled index valid), u32 size,
///     u64 desc, u64 avail, u64 used, u16 last avail idx, u16 used idx, u16 signalled used idx, u16 0
/// 252 u32 next stream host port   256 u32 next datagram host port
/// 260 u32 listener count n (at most 4096), then n x (u32 port, u32 type)
/// </code>
/// Decoding checks everything that needs no device (size, magic, ABI major, version, checksum,
/// reserved bits and ranges); the device checks the rest against itself (<see cref="VsockDevice.RestoreState"/>).
/// Any byte string is either a snapshot or a reason: it never throws.
/// </summary>
internal static class SnapshotCodec
{
    public const uint Magic = 0x534E_5356;  // "VSNS" in memory order
    /// <summary>The format this library writes; it reads versions 1 .. <see cref="Version"/> of its ABI major.</summary>
    public const ushort Version = 1;
    public const int HeaderSize = 16;
    public const int MaxListeners = 4096;
    private const int QueueRecord = 40;
    private const int QueuesAt = 52;
    private const int FixedSize = QueuesAt + (int)QueueSlot.Count * QueueRecord + 12;
    private const uint QueueConfigured = 1, QueueKicksEnabled = 2, QueueSignalledValid = 4;
    private const uint OptionSeparateDatagrams = 1;

    public static int SizeOf(DeviceSnapshot s) => FixedSize + s.Backend.Listeners.Length * 8;

    public static void Encode(DeviceSnapshot s, Span<byte> b)
    {
        int size = SizeOf(s);
        b = b[..size];
        b.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(b, Magic);
        BinaryPrimitives.WriteUInt16LittleEndian(b[4..], Version);
        BinaryPrimitives.WriteUInt16LittleEndian(b[6..], (ushort)AbiVersion.Major);
        BinaryPrimitives.WriteUInt32LittleEndian(b[8..], (uint)size);
        BinaryPrimitives.WriteUInt64LittleEndian(b[16..], s.GuestCid);
        BinaryPrimitives.WriteUInt64LittleEndian(b[24..], s.OfferedFeatures);
        BinaryPrimitives.WriteUInt64LittleEndian(b[32..], s.DriverFeatures);
        BinaryPrimitives.WriteUInt32LittleEndian(b[40..], s.SeparateDatagramQueues ? OptionSeparateDatagrams : 0);
        BinaryPrimitives.WriteUInt32LittleEndian(b[44..], s.BufAlloc);
        BinaryPrimitives.WriteUInt32LittleEndian(b[48..], QueueSlot.Count);
        for (int i = 0; i < QueueSlot.Count; i++)
        {
            var q = s.Queues[i];
            if (!q.Configured) continue;
            var r = b.Slice(QueuesAt + i * QueueRecord, QueueRecord);
            uint flags = QueueConfigured | (q.KicksEnabled ? QueueKicksEnabled : 0) | (q.SignalledValid ? QueueSignalledValid : 0);
            BinaryPrimitives.WriteUInt32LittleEndian(r, flags);
            BinaryPrimitives.WriteUInt32LittleEndian(r[4..], q.Size);
            BinaryPrimitives.WriteUInt64LittleEndian(r[8..], q.DescAddr);
            BinaryPrimitives.WriteUInt64LittleEndian(r[16..], q.AvailAddr);
            BinaryPrimitives.WriteUInt64LittleEndian(r[24..], q.UsedAddr);
            BinaryPrimitives.WriteUInt16LittleEndian(r[32..], q.LastAvailIdx);
            BinaryPrimitives.WriteUInt16LittleEndian(r[34..], q.UsedIdx);
            BinaryPrimitives.WriteUInt16LittleEndian(r[36..], q.SignalledUsedIdx);
        }
        int at = QueuesAt + (int)QueueSlot.Count * QueueRecord;
        BinaryPrimitives.WriteUInt32LittleEndian(b[at..], s.Backend.StreamPortNext);
        BinaryPrimitives.WriteUInt32LittleEndian(b[(at + 4)..], s.Backend.DatagramPortNext);
        BinaryPrimitives.WriteUInt32LittleEndian(b[(at + 8)..], (uint)s.Backend.Listeners.Length);
        for (int i = 0; i < s.Backend.Listeners.Length; i++)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(b[(FixedSize + i * 8)..], s.Backend.Listeners[i].Port);
            BinaryPrimitives.WriteUInt32LittleEndian(b[(FixedSize + i * 8 + 4)..], s.Backend.Listeners[i].Type);
        }
        BinaryPrimitives.WriteUInt32LittleEndian(b[12..], Crc32.Compute(b[HeaderSize..]));
    }

    /// <summary>The snapshot in <paramref name="b"/>, or null with why not.</summary>
    public static DeviceSnapshot? Decode(ReadOnlySpan<byte> b, out string why)
    {
        if (!CheckHeader(b, out why)) return null;
        if (b.Length < FixedSize) return Refuse(out why, $"truncated: {b.Length} bytes, a version {Version} blob has at least {FixedSize}");
        uint slots = BinaryPrimitives.ReadUInt32LittleEndian(b[48..]);
        if (slots != QueueSlot.Count) return Refuse(out why, $"{slots} queue slots, version {Version} has {QueueSlot.Count}");
        uint options = BinaryPrimitives.ReadUInt32LittleEndian(b[40..]);
        if ((options & ~OptionSeparateDatagrams) != 0) return Refuse(out why, $"unknown option bits 0x{options:x}");
        var queues = new QueueSnapshot[QueueSlot.Count];
        for (int i = 0; i < QueueSlot.Count; i++)
            if (!DecodeQueue(b.Slice(QueuesAt + i * QueueRecord, QueueRecord), i, out queues[i], out why)) return null;
        int at = QueuesAt + (int)QueueSlot.Count * QueueRecord;
        uint streamNext = BinaryPrimitives.ReadUInt32LittleEndian(b[at..]);
        uint dgramNext = BinaryPrimitives.ReadUInt32LittleEndian(b[(at + 4)..]);
        uint count = BinaryPrimitives.ReadUInt32LittleEndian(b[(at + 8)..]);
        if (!InPortRange(streamNext) || !InPortRange(dgramNext))
            return Refuse(out why, $"host port allocator at {streamNext} / {dgramNext}, outside [{HostPortAllocator.First}, {HostPortAllocator.End})");
        if (count > MaxListeners) return Refuse(out why, $"{count} listeners (at most {MaxListeners})");
        if (b.Length != FixedSize + (int)count * 8)
            return Refuse(out why, $"{count} listeners need {FixedSize + count * 8} bytes, the blob has {b.Length}");
        var listeners = new (uint, uint)[count];
        for (int i = 0; i < count; i++)
        {
            uint port = BinaryPrimitives.ReadUInt32LittleEndian(b[(FixedSize + i * 8)..]);
            uint type = BinaryPrimitives.ReadUInt32LittleEndian(b[(FixedSize + i * 8 + 4)..]);
            if (type is < 1 or > 3) return Refuse(out why, $"listener {i} (port {port}) has socket type {type}");
            listeners[i] = (port, type);
        }
        return new DeviceSnapshot(
            BinaryPrimitives.ReadUInt64LittleEndian(b[16..]), BinaryPrimitives.ReadUInt64LittleEndian(b[24..]),
            BinaryPrimitives.ReadUInt64LittleEndian(b[32..]), options != 0, BinaryPrimitives.ReadUInt32LittleEndian(b[44..]),
            queues, new BackendState(streamNext, dgramNext, listeners));
    }

    /// <summary>Size, magic, ABI major, version, total size and checksum, in that order.</summary>
    private static bool CheckHeader(ReadOnlySpan<byte> b, out string why)
    {
        why = "";
        if (b.Length < HeaderSize) return No(out why, $"truncated: {b.Length} bytes, the header alone has {HeaderSize}");
        uint magic = BinaryPrimitives.ReadUInt32LittleEndian(b);
        if (magic != Magic) return No(out why, $"not a device state blob (magic 0x{magic:x8})");
        ushort major = BinaryPrimitives.ReadUInt16LittleEndian(b[6..]);
        if (major != AbiVersion.Major) return No(out why, $"written by ABI major {major}, this library is ABI major {AbiVersion.Major}");
        ushort version = BinaryPrimitives.ReadUInt16LittleEndian(b[4..]);
        if (version is 0 or > Version) return No(out why, $"unknown format version {version} (this library reads 1..{Version})");
        uint size = BinaryPrimitives.ReadUInt32LittleEndian(b[8..]);
        if (size != (uint)b.Length) return No(out why, $"the blob says it has {size} bytes, {b.Length} were given (truncated or padded)");
        uint crc = BinaryPrimitives.ReadUInt32LittleEndian(b[12..]);
        uint actual = Crc32.Compute(b[HeaderSize..]);
        if (crc != actual) return No(out why, $"corrupted: CRC-32 0x{actual:x8}, the blob says 0x{crc:x8}");
        return true;
    }

    private static bool DecodeQueue(ReadOnlySpan<byte> r, int slot, out QueueSnapshot q, out string why)
    {
        q = default;
        why = "";
        uint flags = BinaryPrimitives.ReadUInt32LittleEndian(r);
        if ((flags & ~(QueueConfigured | QueueKicksEnabled | QueueSignalledValid)) != 0 || BinaryPrimitives.ReadUInt16LittleEndian(r[38..]) != 0)
            return No(out why, $"queue slot {slot}: unknown flag or reserved bits");
        if ((flags & QueueConfigured) == 0)
            return r.IndexOfAnyExcept((byte)0) < 0 || No(out why, $"queue slot {slot} is not set up but has values");
        q = new QueueSnapshot(true, BinaryPrimitives.ReadUInt32LittleEndian(r[4..]), BinaryPrimitives.ReadUInt64LittleEndian(r[8..]),
            BinaryPrimitives.ReadUInt64LittleEndian(r[16..]), BinaryPrimitives.ReadUInt64LittleEndian(r[24..]),
            BinaryPrimitives.ReadUInt16LittleEndian(r[32..]), BinaryPrimitives.ReadUInt16LittleEndian(r[34..]),
            BinaryPrimitives.ReadUInt16LittleEndian(r[36..]), (flags & QueueKicksEnabled) != 0, (flags & QueueSignalledValid) != 0);
        var shape = new QueueConfig(q.Size, q.DescAddr, q.AvailAddr, q.UsedAddr).ValidateShape();
        return shape == QueueConfigError.None || No(out why, $"queue slot {slot}: {shape} (size {q.Size})");
    }

    private static bool InPortRange(uint port) => port >= HostPortAllocator.First && port < HostPortAllocator.End;

    private static bool No(out string why, string reason)
    {
        why = reason;
        return false;
    }

    private static DeviceSnapshot? Refuse(out string why, string reason)
    {
        why = reason;
        return null;
    }
}
