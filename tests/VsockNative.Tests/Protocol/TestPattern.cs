using System;
using System.Runtime.InteropServices;
using VsockNative.Wire;

namespace VsockNative.Tests.Protocol;

/// <summary>
/// An endless, position-dependent byte stream for transfer tests: byte <c>p</c> is
/// <c>Bytes[p % Period]</c>. The array holds two periods and is pinned, so any run of up to one
/// period starting anywhere is contiguous and can be handed out as an IoVec without copying.
/// </summary>
internal static class TestPattern
{
    /// <summary>A prime, so chunk boundaries drift against the period.</summary>
    public const int Period = 1_048_573;

    public static readonly byte[] Bytes = Create();

    public static readonly nint Address = Marshal.UnsafeAddrOfPinnedArrayElement(Bytes, 0);

    /// <summary>The run [position, position + length) as one IoVec (length &lt;= Period).</summary>
    public static IoVec At(long position, int length) => new(Address + (nint)(position % Period), (nuint)length);

    public static ReadOnlySpan<byte> Span(long position, int length) => Bytes.AsSpan((int)(position % Period), length);

    /// <summary>Copies the stream from <paramref name="position"/> into the buffers.</summary>
    public static void CopyTo(ReadOnlySpan<IoVec> into, long position, long length)
    {
        int done = 0;
        while (done < length)
        {
            int n = (int)Math.Min(length - done, Period);
            ScatterIo.Scatter(into, done, Span(position + done, n));
            done += n;
        }
    }

    /// <summary>The checksum of the first <paramref name="length"/> bytes of the stream.</summary>
    public static ulong ChecksumOf(long length)
    {
        var sum = new StreamChecksum();
        for (long p = 0; p < length; p += Period)
            sum.Append(Span(p, (int)Math.Min(Period, length - p)));
        return sum.Value;
    }

    public static byte[] ToArray(long position, int length)
    {
        var copy = new byte[length];
        for (int i = 0; i < length; i++)
            copy[i] = Bytes[(int)((position + i) % Period)];
        return copy;
    }

    private static byte[] Create()
    {
        byte[] b = GC.AllocateUninitializedArray<byte>(2 * Period, pinned: true);
        var rng = new Random(1234);
        rng.NextBytes(b.AsSpan(0, Period));
        b.AsSpan(0, Period).CopyTo(b.AsSpan(Period));
        return b;
    }
}
