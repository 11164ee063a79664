using System;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace VsockNative.Virtqueue;

/// <summary>
/// A private copy of one <c>struct virtq_desc</c> (virtio 1.2 §2.7.5):
/// <c>le64 addr; le32 len; le16 flags; le16 next;</c>.
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 1, Size = RingLayout.DescriptorSize)]
internal readonly struct VirtqDesc
{
    /// <summary>Guest-physical address of the buffer (or of the indirect table).</summary>
    public readonly ulong Addr;

    /// <summary>Length of the buffer in bytes.</summary>
    public readonly uint Len;

    /// <summary>VIRTQ_DESC_F_* flags.</summary>
    public readonly ushort Flags;

    /// <summary>Index of the next descriptor when <see cref="VirtqDescFlags.Next"/> is set.</summary>
    public readonly ushort Next;

    private VirtqDesc(ulong addr, uint len, ushort flags, ushort next)
    {
        Addr = addr;
        Len = len;
        Flags = flags;
        Next = next;
    }

    /// <summary>True when <see cref="Flags"/> contains <paramref name="flag"/>.</summary>
    public bool Has(ushort flag) => (Flags & flag) != 0;

    /// <summary>
    /// Reads the descriptor at <paramref name="source"/> exactly once: one 16-byte copy into a
    /// local, after which only the copy is used, so a guest rewriting the descriptor concurrently
    /// cannot make a checked value differ from a used one (no double fetch). The .NET memory
    /// model does not let the JIT re-read memory in place of a local. The source may be
    /// unaligned (indirect tables carry no alignment guarantee).
    /// </summary>
    public static unsafe VirtqDesc Read(byte* source)
    {
        VirtqDesc raw = Unsafe.ReadUnaligned<VirtqDesc>(source);
        if (BitConverter.IsLittleEndian)
            return raw;
        return new VirtqDesc(BinaryPrimitives.ReverseEndianness(raw.Addr),
            BinaryPrimitives.ReverseEndianness(raw.Len),
            BinaryPrimitives.ReverseEndianness(raw.Flags),
            BinaryPrimitives.ReverseEndianness(raw.Next));
    }
}
