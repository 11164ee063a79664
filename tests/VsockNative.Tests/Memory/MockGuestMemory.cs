using System;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using VsockNative.Memory;

namespace VsockNative.Tests.Memory;

/// <summary>Where one mock region lives in guest-physical space; <c>Backed = false</c> gives it a fake host address.</summary>
internal readonly record struct MockRegion(ulong Gpa, ulong Size, bool Backed = true);

/// <summary>
/// Real guest memory for tests: each backed region is its own aligned native allocation (with
/// slack after it, so GPA-adjacent regions are never host-adjacent), zeroed, freed in Dispose.
/// Unbacked regions get a fake host address: the device may translate into them (translation never
/// dereferences) but the test must not read or write them. Accessors play the driver's view.
/// </summary>
internal sealed unsafe class MockGuestMemory : IDisposable
{
    private const nuint Slack = 4096;
    private readonly MockRegion[] layout;
    private readonly nint[] hosts;
    private static long nextFakeHost = 0x7000_0000_0000;

    public MockGuestMemory(params MockRegion[] regions)
    {
        layout = regions;
        hosts = new nint[regions.Length];
        var guestRegions = new GuestRegion[regions.Length];
        for (int i = 0; i < regions.Length; i++)
        {
            hosts[i] = regions[i].Backed ? Allocate(regions[i].Size) : FakeHost(regions[i].Size);
            guestRegions[i] = new GuestRegion(regions[i].Gpa, regions[i].Size, hosts[i]);
        }

        GuestMemoryError error = GuestMemory.TryCreate(guestRegions, out GuestMemory? memory);
        if (error != GuestMemoryError.None)
            throw new InvalidOperationException($"mock layout rejected: {error}");
        Memory = memory!;
    }

    public GuestMemory Memory { get; }

    /// <summary>Host address backing <paramref name="gpa"/> (test-side lookup, independent of GuestMemory).</summary>
    public byte* HostOf(ulong gpa)
    {
        for (int i = 0; i < layout.Length; i++)
        {
            if (gpa >= layout[i].Gpa && gpa - layout[i].Gpa < layout[i].Size)
            {
                if (!layout[i].Backed)
                    throw new InvalidOperationException($"0x{gpa:x} is in an unbacked region");
                return (byte*)hosts[i] + (gpa - layout[i].Gpa);
            }
        }

        throw new ArgumentOutOfRangeException(nameof(gpa), $"0x{gpa:x} is outside the mock memory");
    }

    public void Write(ulong gpa, ReadOnlySpan<byte> data)
    {
        for (int i = 0; i < data.Length; i++)
            *HostOf(gpa + (ulong)i) = data[i];
    }

    public void Read(ulong gpa, Span<byte> destination)
    {
        for (int i = 0; i < destination.Length; i++)
            destination[i] = *HostOf(gpa + (ulong)i);
    }

    public void WriteU16(ulong gpa, ushort value) => BinaryPrimitives.WriteUInt16LittleEndian(Span(gpa, 2), value);

    public void WriteU32(ulong gpa, uint value) => BinaryPrimitives.WriteUInt32LittleEndian(Span(gpa, 4), value);

    public void WriteU64(ulong gpa, ulong value) => BinaryPrimitives.WriteUInt64LittleEndian(Span(gpa, 8), value);

    public ushort ReadU16(ulong gpa) => BinaryPrimitives.ReadUInt16LittleEndian(Span(gpa, 2));

    public uint ReadU32(ulong gpa) => BinaryPrimitives.ReadUInt32LittleEndian(Span(gpa, 4));

    public void Dispose()
    {
        for (int i = 0; i < hosts.Length; i++)
        {
            if (layout[i].Backed && hosts[i] != 0)
                NativeMemory.AlignedFree((void*)hosts[i]);
            hosts[i] = 0;
        }
    }

    /// <summary>A span over a field that must lie inside one region (ring fields always do).</summary>
    private Span<byte> Span(ulong gpa, int length)
    {
        byte* first = HostOf(gpa);
        if (HostOf(gpa + (ulong)length - 1) != first + length - 1)
            throw new InvalidOperationException($"field at 0x{gpa:x} crosses a region boundary");
        return new Span<byte>(first, length);
    }

    private static nint Allocate(ulong size)
    {
        void* block = NativeMemory.AlignedAlloc((nuint)size + Slack, 4096);
        NativeMemory.Clear(block, (nuint)size + Slack);
        return (nint)block;
    }

    private static nint FakeHost(ulong size)
    {
        long step = (long)size + 0x1000_0000;
        return (nint)(System.Threading.Interlocked.Add(ref nextFakeHost, step) - step);
    }
}
