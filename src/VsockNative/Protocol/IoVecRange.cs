using System;
using VsockNative.Wire;

namespace VsockNative.Protocol;

/// <summary>Sub-ranges of a scatter list, without copying any data.</summary>
internal static class IoVecRange
{
    /// <summary>Describes the bytes [offset, offset + length) of <paramref name="source"/> (clipped at
    /// its end) as a list of IoVecs in <paramref name="destination"/>, which must hold at least
    /// <c>source.Length</c> entries. Returns the number of entries written.</summary>
    public static int Take(ReadOnlySpan<IoVec> source, ulong offset, ulong length, Span<IoVec> destination)
    {
        int count = 0;
        foreach (IoVec s in source)
        {
            if (length == 0) break;
            ulong segment = s.Length;
            if (offset >= segment)
            {
                offset -= segment;
                continue;
            }

            ulong n = Math.Min(segment - offset, length);
            destination[count++] = new IoVec(s.Base + (nint)offset, (nuint)n);
            length -= n;
            offset = 0;
        }

        return count;
    }
}
