using System;
using System.Collections.Generic;
using System.IO;
using VsockNative.Protocol;
using VsockNative.Wire;
using VsockNative.Diagnostics;

namespace VsockNative.Tests.Protocol;

/// <summary>
/// A scripted host stream. Guest-to-host: accepts up to <see cref="WriteBudget"/> bytes then
/// answers would-block, or fails with <see cref="WriteError"/>; what it takes is recorded and
/// checksummed. Host-to-guest: hands out <see cref="Readable"/> bytes of <see cref="TestPattern"/>,
/// then would-block, or EOF when <see cref="Eof"/>, or <see cref="ReadError"/>. Records shutdowns and
/// closes, and fails the test on any call after Close.
/// </summary>
internal class FakeHostStream : IHostStream
{
    public const long EPipe = -32;
    public const long EConnReset = -104;

    private readonly MemoryStream received = new();

    /// <summary>Bytes the next writes may take before would-block (decremented).</summary>
    public long WriteBudget { get; set; } = long.MaxValue;

    /// <summary>When not 0, every write answers this errno.</summary>
    public long WriteError { get; set; }

    /// <summary>Keep a copy of what was written (off for the big and the allocation tests).</summary>
    public bool Record { get; set; } = true;

    public StreamChecksum ReceivedSum { get; } = new();

    public long ReceivedCount => ReceivedSum.Length;

    public byte[] Received => received.ToArray();

    /// <summary>Pattern bytes available to read now (decremented).</summary>
    public long Readable { get; set; }

    /// <summary>Position in the pattern of the next byte read.</summary>
    public long ReadPosition { get; set; }

    /// <summary>Once <see cref="Readable"/> is exhausted, reads return 0 (end of stream).</summary>
    public bool Eof { get; set; }

    /// <summary>When not 0, every read answers this errno.</summary>
    public long ReadError { get; set; }

    /// <summary>Largest single read.</summary>
    public int MaxRead { get; set; } = int.MaxValue;

    public int Writes { get; private set; }

    /// <summary>The buffer list the last Write / Read was handed (to check that the connection passes
    /// guest memory itself, not a copy).</summary>
    public IoVec[] LastWriteVecs { get; private set; } = Array.Empty<IoVec>();

    public IoVec[] LastReadVecs { get; private set; } = Array.Empty<IoVec>();

    /// <summary>Record <see cref="LastWriteVecs"/> / <see cref="LastReadVecs"/> (allocates: off by default).</summary>
    public bool RecordVecs { get; set; }

    public int Reads { get; private set; }

    public List<(bool Read, bool Write)> Shutdowns { get; } = new();

    public int Closes { get; private set; }

    public bool Closed => Closes > 0;

    public bool ShutRead => Shutdowns.Exists(s => s.Read);

    public bool ShutWrite => Shutdowns.Exists(s => s.Write);

    public long Write(ReadOnlySpan<IoVec> data)
    {
        Alive();
        Writes++;
        if (RecordVecs) LastWriteVecs = data.ToArray();
        if (WriteError != 0)
            return WriteError;
        long n = (long)Math.Min(ScatterIo.TotalLength(data), (ulong)WriteBudget);
        if (n == 0)
            return HostStreamResult.WouldBlock;
        WriteBudget -= n;
        ReceivedSum.Append(data, n);
        if (Record)
        {
            var copy = new byte[n];
            ScatterIo.Gather(data, 0, copy);
            received.Write(copy);
        }

        return n;
    }

    public long Read(ReadOnlySpan<IoVec> into)
    {
        Alive();
        Reads++;
        if (RecordVecs) LastReadVecs = into.ToArray();
        if (ReadError != 0)
            return ReadError;
        long n = Math.Min(Math.Min((long)ScatterIo.TotalLength(into), Readable), MaxRead);
        if (n == 0)
            return Readable == 0 && Eof ? 0 : HostStreamResult.WouldBlock;
        TestPattern.CopyTo(into, ReadPosition, n);
        ReadPosition += n;
        Readable -= n;
        return n;
    }

    public int Shutdown(bool read, bool write)
    {
        Alive();
        Shutdowns.Add((read, write));
        return 0;
    }

    public void Close()
    {
        Alive();
        Closes++;
    }

    protected void Alive()
    {
        if (Closed)
            throw new InvalidOperationException("host stream used after Close");
    }
}
