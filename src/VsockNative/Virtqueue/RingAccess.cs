using System;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Threading;

namespace VsockNative.Virtqueue;

/// <summary>
/// Little-endian reads and writes of ring fields in guest memory. Callers pass host pointers that
/// came from a contiguous, alignment-checked translation (<see cref="RingPointers"/>); the
/// ordering each call site needs is named there, next to the spec rule it serves.
/// </summary>
internal static unsafe class RingAccess
{
    /// <summary>Reads a <c>le16</c> with acquire semantics (later reads cannot move before it).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort ReadAcquire16(byte* field) => FromLittleEndian(Volatile.Read(ref *(ushort*)field));

    /// <summary>Writes a <c>le16</c> with release semantics (earlier writes cannot move after it).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void WriteRelease16(byte* field, ushort value) =>
        Volatile.Write(ref *(ushort*)field, FromLittleEndian(value));

    /// <summary>Reads a <c>le16</c> once (no ordering beyond program order).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort Read16(byte* field) => FromLittleEndian(Unsafe.ReadUnaligned<ushort>(field));

    /// <summary>Writes a <c>le32</c> (no ordering beyond program order).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Write32(byte* field, uint value) =>
        Unsafe.WriteUnaligned(field, BitConverter.IsLittleEndian ? value : BinaryPrimitives.ReverseEndianness(value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ushort FromLittleEndian(ushort value) =>
        BitConverter.IsLittleEndian ? value : BinaryPrimitives.ReverseEndianness(value);
}
