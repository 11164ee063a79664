using System;
using VsockNative.Wire;

namespace VsockNative.Memory;

/// <summary>
/// A host buffer the device hands to the kernel or the guest paths as an <see cref="IoVec"/>: a byte
/// array on the pinned object heap, so its address never moves and the upper layers need no
/// pointer of their own.
/// </summary>
internal sealed unsafe class PinnedBuffer
{
    private readonly byte[] _bytes;

    public PinnedBuffer(int length) => _bytes = GC.AllocateArray<byte>(length, pinned: true);

    public int Length => _bytes.Length;

    public Span<byte> Span => _bytes;

    /// <summary>The bytes [offset, offset + length) as one segment.</summary>
    public IoVec Slice(int offset, int length)
    {
        if ((uint)offset > (uint)_bytes.Length || (uint)length > (uint)(_bytes.Length - offset))
            throw new ArgumentOutOfRangeException(nameof(length));
        fixed (byte* p = _bytes) return new IoVec((nint)(p + offset), (nuint)length);
    }
}
