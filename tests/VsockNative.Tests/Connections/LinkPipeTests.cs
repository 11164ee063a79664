using System;
using System.Threading;
using VsockNative.Connections;
using VsockNative.Tests.Protocol;
using VsockNative.Wire;
using Xunit;

namespace VsockNative.Tests.Connections;

/// <summary>One direction of a sibling link: the single-producer / single-consumer ring.</summary>
public sealed class LinkPipeTests : IDisposable
{
    private readonly NativeBuffers _mem = new();

    [Fact]
    public void Bytes_wrap_around_the_ring_in_order_and_room_is_what_the_reader_freed()
    {
        var pipe = new LinkPipe(1000, messages: false);
        long written = 0, read = 0;
        var rnd = new Random(7);
        while (read < 200_000)
        {
            int n = rnd.Next(1, 700);
            // a source split in two pieces, so a copy crosses both a piece and (often) the ring's end
            int taken = pipe.Write(_mem.From(TestPattern.Span(written, n), n / 2));
            Assert.Equal((int)Math.Min(n, 1000 - (written - read)), taken);
            written += taken;
            Assert.Equal(written - read, pipe.Unconsumed);
            Assert.Equal(1000 - (written - read), pipe.Room);
            var into = _mem.Split(rnd.Next(1, 900), 1);
            int got = pipe.Read(into);
            Assert.Equal((int)Math.Min(written - read, (long)ScatterIo.TotalLength(into)), got);
            Assert.Equal(TestPattern.ToArray(read, got), NativeBuffers.Gather(into, 0, got));
            read += got;
        }
        Assert.Equal(0, pipe.Write(_mem.From(new byte[0])));  // nothing offered, nothing taken
        pipe.Return();
    }

    [Fact]
    public void Messages_are_taken_whole_with_their_record_end_or_not_at_all()
    {
        var pipe = new LinkPipe(100, messages: true);
        Assert.False(pipe.HasData);
        Assert.Equal(-1, pipe.PeekMessage());
        Assert.True(pipe.TryWriteMessage(_mem.From(TestPattern.Span(0, 60)), 60, eor: true));
        Assert.False(pipe.TryWriteMessage(_mem.From(TestPattern.Span(0, 41)), 41, eor: false));  // 40 free: not a part of it
        Assert.True(pipe.TryWriteMessage(_mem.From(Array.Empty<byte>()), 0, eor: false));       // empty messages exist
        Assert.True(pipe.TryWriteMessage(_mem.From(TestPattern.Span(60, 40)), 40, eor: false));
        Assert.False(pipe.Fits(1));

        Assert.Equal(60, pipe.PeekMessage());
        var into = _mem.Split(60, 17);
        Assert.Equal(60, pipe.ReadMessage(into, out bool eor));
        Assert.True(eor);
        Assert.Equal(TestPattern.ToArray(0, 60), NativeBuffers.Gather(into, 0, 60));
        Assert.Equal(0, pipe.ReadMessage(_mem.Split(8), out eor));
        Assert.False(eor);
        // a message larger than the buffer offered: what fits is copied, the rest discarded (recvmsg)
        var small = _mem.Split(10);
        Assert.Equal(40, pipe.ReadMessage(small, out eor));
        Assert.Equal(TestPattern.ToArray(60, 10), NativeBuffers.Gather(small, 0, 10));
        Assert.Equal(-1, pipe.ReadMessage(small, out _));
        // the 41-byte message fits now
        Assert.True(pipe.TryWriteMessage(_mem.From(TestPattern.Span(5, 41)), 41, eor: true));
        var wrap = _mem.Split(41);
        Assert.Equal(41, pipe.ReadMessage(wrap, out eor));
        Assert.Equal(TestPattern.ToArray(5, 41), NativeBuffers.Gather(wrap, 0, 41));
        pipe.Return();
    }

    [Fact]
    public void A_message_is_taken_in_pieces_whose_room_is_free_at_once_and_the_last_carries_the_record_end()
    {
        var pipe = new LinkPipe(100, messages: true);
        Assert.True(pipe.TryWriteMessage(_mem.From(TestPattern.Span(0, 70)), 70, eor: true));
        Assert.True(pipe.TryWriteMessage(_mem.From(Array.Empty<byte>()), 0, eor: false));
        var piece = _mem.Split(30);
        Assert.Equal(30, pipe.ReadPiece(piece, out bool end, out bool eor));
        Assert.False(end || eor);
        Assert.Equal(TestPattern.ToArray(0, 30), NativeBuffers.Gather(piece, 0, 30));
        Assert.Equal(60, pipe.Room);  // the piece's room is free, though its message is not done
        Assert.True(pipe.TryWriteMessage(_mem.From(TestPattern.Span(70, 60)), 60, eor: false));  // across the ring's end
        Assert.Equal(30, pipe.ReadPiece(piece, out end, out eor));
        Assert.Equal(TestPattern.ToArray(30, 30), NativeBuffers.Gather(piece, 0, 30));
        Assert.Equal(10, pipe.ReadPiece(piece, out end, out eor));  // the rest of the message only
        Assert.True(end && eor);
        Assert.Equal(TestPattern.ToArray(60, 10), NativeBuffers.Gather(piece, 0, 10));
        Assert.Equal(0, pipe.ReadPiece(piece, out end, out eor));  // the empty message: one empty piece
        Assert.True(end);
        Assert.False(eor);
        var whole = _mem.Split(60, 13);
        Assert.Equal(60, pipe.ReadPiece(whole, out end, out eor));
        Assert.True(end);
        Assert.Equal(TestPattern.ToArray(70, 60), NativeBuffers.Gather(whole, 0, 60));
        Assert.Equal(-1, pipe.ReadPiece(whole, out _, out _));
        pipe.Return();
    }

    [Fact]
    public void A_seqpacket_pipe_holds_a_bounded_number_of_messages()
    {
        var pipe = new LinkPipe(100, messages: true);
        var empty = _mem.From(Array.Empty<byte>());
        for (int i = 0; i < LinkPipe.MessageCapacity; i++) Assert.True(pipe.TryWriteMessage(empty, 0, false));
        Assert.False(pipe.TryWriteMessage(empty, 0, false));  // empty messages cost no bytes, but a record
        Assert.Equal(0, pipe.ReadMessage(empty, out _));
        Assert.True(pipe.TryWriteMessage(empty, 0, false));
        pipe.Return();
    }

    /// <summary>The memory order of the ring: a producer and a consumer on two threads move 32 MiB through
    /// a 4 KiB ring in odd chunks; every byte arrives in order (a missing barrier shows as stale bytes).</summary>
    [Fact]
    public void Two_threads_move_bytes_through_a_small_ring_in_order()
    {
        const long Total = 32 << 20;
        var pipe = new LinkPipe(4096, messages: false);
        var source = _mem.Split(TestPattern.Period);
        ScatterIo.Scatter(source, 0, TestPattern.Span(0, TestPattern.Period));
        var into = _mem.Split(1500);
        long bad = 0, got = 0;
        var consumer = new Thread(() =>
        {
            var check = new byte[1500];
            while (got < Total)
            {
                int n = pipe.Read(into);
                if (n == 0)
                {
                    Thread.SpinWait(20);
                    continue;
                }
                ScatterIo.Gather(into, 0, check.AsSpan(0, n));
                if (!check.AsSpan(0, n).SequenceEqual(TestPattern.Span(got, n))) bad++;
                got += n;
            }
        });
        consumer.Start();
        long sent = 0;
        Span<IoVec> one = stackalloc IoVec[1];
        while (sent < Total)
        {
            int n = (int)Math.Min(Total - sent, 1 + sent % 3001);
            one[0] = new IoVec(source[0].Base + (nint)(sent % TestPattern.Period), (nuint)Math.Min(n, TestPattern.Period - (int)(sent % TestPattern.Period)));
            int taken = pipe.Write(one);
            if (taken == 0) Thread.SpinWait(20);
            sent += taken;
        }
        Assert.True(consumer.Join(TimeSpan.FromMinutes(2)));
        Assert.Equal(Total, got);
        Assert.Equal(0, bad);
        pipe.Return();
    }

    public void Dispose() => _mem.Dispose();
}
