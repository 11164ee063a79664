using System;
using System.Text;
using VsockNative.Endpoints;
using VsockNative.EventLoop;
using VsockNative.Protocol;
using VsockNative.Tests.Protocol;
using Xunit;
using VsockNative.Diagnostics;
using VsockNative.Interop.Native;

namespace VsockNative.Tests.Endpoints;

/// <summary>The hybrid socket's greeting ("OK &lt;port&gt;\n") on a real socketpair.</summary>
public sealed class FdStreamTests : IDisposable
{
    private const long EPIPE = -32;
    private readonly NativeBuffers buffers = new();
    private readonly int mine, theirs;

    public FdStreamTests()
    {
        Assert.Equal(0, SocketCalls.Pair(SocketCalls.SOCK_STREAM, out mine, out theirs));
    }

    private string ReadTheirs()
    {
        var into = buffers.Split(256);
        long n = SocketCalls.Receive(theirs, into);
        return n > 0 ? Encoding.ASCII.GetString(NativeBuffers.Gather(into, 0, (int)n)) : "";
    }

    [Fact]
    public void The_greeting_goes_out_before_the_first_stream_bytes()
    {
        var stream = new FdStream(mine, null);
        stream.SetGreeting(Encoding.ASCII.GetBytes("OK 1073741824\n"));
        Assert.Equal(4, stream.Write(buffers.From("data"u8)));
        Assert.Equal("OK 1073741824\ndata", ReadTheirs());
        stream.Close();
    }

    [Fact]
    public void A_greeting_the_client_cannot_receive_is_a_write_error_not_a_write_that_waits_forever()
    {
        // Regression: the client wrote "CONNECT <port>\n" and shut its read side. The greeting's EPIPE
        // was taken for "not yet", so Write answered would-block for ever while the fd stayed writable:
        // the connection buffered guest data and the event loop spun on EPOLLOUT.
        var stream = new FdStream(mine, null);
        stream.SetGreeting(Encoding.ASCII.GetBytes("OK 7\n"));
        Assert.Equal(0, SocketCalls.Shutdown(theirs, SocketCalls.SHUT_RD));
        Assert.Equal(EPIPE, stream.FlushGreeting());
        Assert.Equal(EPIPE, stream.Write(buffers.From("data"u8)));
        Assert.NotEqual(HostStreamResult.WouldBlock, stream.Write(buffers.From("more"u8)));
        stream.Close();
    }

    private static byte[] Pattern(int length, int seed)
    {
        var b = new byte[length];
        for (int i = 0; i < length; i++) b[i] = (byte)(i * 7 + seed + (i >> 8));
        return b;
    }

    private void WriteTheirs(byte[] data)
    {
        int done = 0;
        while (done < data.Length)
        {
            long n = SocketCalls.Send(theirs, data.AsSpan(done));
            Assert.True(n > 0, $"send: {n}");
            done += (int)n;
        }
    }

    /// <summary>Reads into 4052-byte buffers (a 4 KiB rx buffer behind its header) until the stream
    /// answers would-block, counting the socket reads the stream made.</summary>
    private (byte[] Data, long Last, ulong SocketReads) ReadAllInSmallBuffers(FdStream stream, ulong readAhead)
    {
        var block = new SyscallCounterBlock();
        var previous = SyscallCount.Enter(block);
        var got = new System.IO.MemoryStream();
        long n;
        try
        {
            while (true)
            {
                var into = buffers.Split(4052, 1000, 3000);
                n = stream.Read(into, readAhead);
                if (n <= 0) break;
                Assert.True(n <= 4052);
                got.Write(NativeBuffers.Gather(into, 0, (int)n));
            }
        }
        finally { SyscallCount.Exit(previous); }
        return (got.ToArray(), n, block.Values.SocketReads);
    }

    [Fact]
    public void One_socket_read_fills_many_small_buffers_when_reading_ahead_in_order_and_whole()
    {
        var stream = new FdStream(mine, null);
        byte[] sent = Pattern(64 * 1024, 3);
        WriteTheirs(sent);
        var (data, last, reads) = ReadAllInSmallBuffers(stream, ulong.MaxValue);
        Assert.Equal(sent, data);
        Assert.Equal(HostStreamResult.WouldBlock, last);
        // 17 buffers of 4052 bytes; without read-ahead every one is a recvmsg (checked below)
        // a plain first read, one that reads ahead, the rest, the would-block: 4 at most
        Assert.True(reads <= 4, $"{reads} socket reads for 64 KiB");
        Assert.False(stream.HoldsReadAheadArray);  // nothing read ahead: nothing held
        stream.Close();
    }

    [Fact]
    public void Without_a_read_ahead_hint_every_small_buffer_is_its_own_socket_read()
    {
        var stream = new FdStream(mine, null);
        byte[] sent = Pattern(64 * 1024, 5);
        WriteTheirs(sent);
        var (data, _, reads) = ReadAllInSmallBuffers(stream, 0);
        Assert.Equal(sent, data);
        Assert.True(reads >= 17, $"{reads} socket reads");
        stream.Close();
    }

    [Fact]
    public void Read_ahead_never_takes_more_than_the_hint()
    {
        var stream = new FdStream(mine, null);
        byte[] sent = Pattern(10000, 1);
        WriteTheirs(sent);
        var first = buffers.Split(50);
        Assert.Equal(50, stream.Read(first, 900));  // a full buffer: the stream moves bulk data
        Assert.Equal(0, stream.ReadAheadCount);     // (only from now on does it read ahead)
        var into = buffers.Split(100);
        Assert.Equal(100, stream.Read(into, 900));
        Assert.Equal(900, stream.ReadAheadCount);
        // the read-ahead bytes first, then the rest of the buffer from the socket, in order
        var rest = buffers.Split(20000, 500);
        Assert.Equal(9850, stream.Read(rest, 0));
        Assert.Equal(0, stream.ReadAheadCount);
        Assert.Equal(sent, (byte[])[.. NativeBuffers.Gather(first, 0, 50), .. NativeBuffers.Gather(into, 0, 100), .. NativeBuffers.Gather(rest, 0, 9850)]);
        stream.Close();
    }

    [Fact]
    public void Small_messages_that_never_fill_a_buffer_never_rent_a_read_ahead_array()
    {
        var stream = new FdStream(mine, null);
        for (int i = 0; i < 5; i++)
        {
            WriteTheirs(Pattern(64, i));
            var into = buffers.Split(4052);
            Assert.Equal(64, stream.Read(into, ulong.MaxValue));
            Assert.Equal(Pattern(64, i), NativeBuffers.Gather(into, 0, 64));
            Assert.False(stream.HoldsReadAheadArray);
        }
        stream.Close();
    }

    [Fact]
    public void The_end_of_the_stream_comes_after_every_byte_read_ahead()
    {
        var stream = new FdStream(mine, null);
        byte[] sent = Pattern(30000, 9);
        WriteTheirs(sent);
        Assert.Equal(0, SocketCalls.Shutdown(theirs, SocketCalls.SHUT_WR));
        var (data, last, _) = ReadAllInSmallBuffers(stream, ulong.MaxValue);
        Assert.Equal(sent, data);
        Assert.Equal(0, last);                       // EOF, not before the last byte
        Assert.Equal(0, stream.Read(buffers.Split(64), ulong.MaxValue));  // and it stays
        stream.Close();
    }

    [Fact]
    public void Closing_with_bytes_read_ahead_returns_the_array()
    {
        var stream = new FdStream(mine, null);
        WriteTheirs(Pattern(8000, 2));
        Assert.Equal(100, stream.Read(buffers.Split(100), ulong.MaxValue));
        Assert.Equal(100, stream.Read(buffers.Split(100), ulong.MaxValue));
        Assert.True(stream.HoldsReadAheadArray);
        stream.Close();
        Assert.False(stream.HoldsReadAheadArray);
        Assert.Equal(0, stream.ReadAheadCount);
        Assert.Equal(-Errno.EBADF, stream.Read(buffers.Split(100), ulong.MaxValue));
    }

    [Fact]
    public void A_reopened_stream_is_field_by_field_a_new_one_over_its_new_fd()
    {
        // The muxer reuses the stream of a freed connection: nothing of the old fd may be left (a
        // greeting, handshake bytes, bytes read ahead, a deferred end or error, the framing).
        var stream = new FdStream(mine, null, Encoding.ASCII.GetBytes("rest of a handshake")) { FramedRecords = true };
        stream.SetGreeting(Encoding.ASCII.GetBytes("OK 9\n"));
        WriteTheirs(Pattern(8000, 4));
        Assert.Equal(19, stream.Read(buffers.Split(100), ulong.MaxValue));   // the handshake's bytes
        Assert.Equal(100, stream.Read(buffers.Split(100), ulong.MaxValue));
        Assert.Equal(100, stream.Read(buffers.Split(100), ulong.MaxValue));  // reads ahead now
        Assert.True(stream.HoldsReadAheadArray);
        stream.Registered = true;
        stream.Close();

        Assert.Equal(0, SocketCalls.Pair(SocketCalls.SOCK_STREAM, out int next, out int peer));
        try
        {
            stream.Reopen(next);
            FieldByField.AssertSame(new FdStream(next, null), stream);
            Assert.Throws<InvalidOperationException>(() => stream.Reopen(peer));  // open: never reopened
            SocketCalls.Send(peer, "after"u8);
            var into = buffers.Split(64);
            Assert.Equal(5, stream.Read(into, 0));  // the new socket's bytes, nothing of the old one
            Assert.Equal("after", Encoding.ASCII.GetString(NativeBuffers.Gather(into, 0, 5)));
        }
        finally
        {
            stream.Close();
            Libc.Close(peer);
        }
    }

    public void Dispose()
    {
        Libc.Close(theirs);  // mine belongs to the stream, which each test closes
        buffers.Dispose();
    }
}
