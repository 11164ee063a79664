using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using VsockNative.Wire;

namespace VsockNative.Tests.Protocol;

/// <summary>
/// Native memory playing guest buffers: every piece is its own allocation (so pieces are never
/// adjacent), described as IoVecs the way the memory layer hands them to the protocol. Freed on Dispose.
/// </summary>
internal sealed unsafe class NativeBuffers : IDisposable
{
    private readonly List<nint> allocations = new();

    /// <summary>A buffer of <paramref name="total"/> bytes cut at <paramref name="cuts"/> (ascending
    /// offsets inside (0, total)), filled with 0xEE so untouched bytes are visible.</summary>
    public IoVec[] Split(int total, params int[] cuts)
    {
        var pieces = new IoVec[cuts.Length + 1];
        int start = 0;
        for (int i = 0; i <= cuts.Length; i++)
        {
            int end = i < cuts.Length ? cuts[i] : total;
            if (end < start || end > total)
                throw new ArgumentException("cuts must be ascending and inside the buffer");
            int length = end - start;
            nint p = (nint)NativeMemory.Alloc((nuint)Math.Max(length, 1));
            allocations.Add(p);
            new Span<byte>((void*)p, length).Fill(0xEE);
            pieces[i] = new IoVec(p, (nuint)length);
            start = end;
        }

        return pieces;
    }

    /// <summary>A copy of <paramref name="data"/> in native pieces cut at <paramref name="cuts"/>.</summary>
    public IoVec[] From(ReadOnlySpan<byte> data, params int[] cuts)
    {
        IoVec[] v = Split(data.Length, cuts);
        ScatterIo.Scatter(v, 0, data);
        return v;
    }

    /// <summary>Copies <paramref name="length"/> bytes starting at <paramref name="offset"/> out of the buffers.</summary>
    public static byte[] Gather(ReadOnlySpan<IoVec> v, int offset, int length)
    {
        var copy = new byte[length];
        ScatterIo.Gather(v, offset, copy);
        return copy;
    }

    public void Dispose()
    {
        foreach (nint p in allocations)
            NativeMemory.Free((void*)p);
        allocations.Clear();
    }
}
