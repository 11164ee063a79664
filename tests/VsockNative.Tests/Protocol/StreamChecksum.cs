using System;
using System.Numerics;
using System.Runtime.InteropServices;
using VsockNative.Wire;

namespace VsockNative.Tests.Protocol;

/// <summary>An order-sensitive 64-bit checksum of a byte stream fed in pieces of any size (the result
/// does not depend on where the pieces are cut). Fast enough for a GiB; allocation-free.</summary>
internal sealed unsafe class StreamChecksum
{
    private ulong hash = 0x9E3779B97F4A7C15;
    private ulong carry;
    private int carryLength;

    public long Length { get; private set; }

    public ulong Value => Mix(Mix(hash, carry | ((ulong)carryLength << 56)), (ulong)Length);

    public void Append(ReadOnlySpan<byte> data)
    {
        Length += data.Length;
        while (carryLength != 0 && !data.IsEmpty)
        {
            carry |= (ulong)data[0] << (8 * carryLength);
            data = data[1..];
            if (++carryLength == 8)
            {
                hash = Mix(hash, carry);
                carry = 0;
                carryLength = 0;
            }
        }

        int whole = data.Length & ~7;
        ulong h = hash;
        foreach (ulong word in MemoryMarshal.Cast<byte, ulong>(data[..whole]))
            h = Mix(h, word);
        hash = h;
        for (int i = whole; i < data.Length; i++)
            carry |= (ulong)data[i] << (8 * carryLength++);
    }

    public void Append(ReadOnlySpan<IoVec> data, long length) => Append(data, 0, length);

    /// <summary>Appends <paramref name="length"/> bytes starting at <paramref name="offset"/> of the buffers.</summary>
    public void Append(ReadOnlySpan<IoVec> data, long offset, long length)
    {
        foreach (IoVec v in data)
        {
            if (length == 0)
                return;
            if (offset >= (long)v.Length)
            {
                offset -= (long)v.Length;
                continue;
            }

            int n = (int)Math.Min((long)v.Length - offset, length);
            Append(new ReadOnlySpan<byte>((byte*)v.Base + offset, n));
            length -= n;
            offset = 0;
        }
    }

    private static ulong Mix(ulong h, ulong word) => BitOperations.RotateLeft(h ^ word, 27) * 0x100000001B3UL + 0x632BE59BD9B4E019UL;
}
