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

    public void Dispose()
    {
        Libc.Close(theirs);  // mine belongs to the stream, which each test closes
        buffers.Dispose();
    }
}
