using System;
using System.Collections.Generic;
using VsockNative.Connections;
using Xunit;

namespace VsockNative.Tests.Connections;

public sealed class DatagramQueueTests
{
    private static byte[] Bytes(int n, byte seed)
    {
        var b = new byte[n];
        for (int i = 0; i < n; i++) b[i] = (byte)(seed + i * 7);
        return b;
    }

    [Fact]
    public void Records_wrap_around_the_ring_in_order_with_their_bytes()
    {
        var q = new DatagramQueue(100, 16);
        var expected = new Queue<byte[]>();
        byte seed = 0;
        // many rounds of sizes that do not divide the ring: every placement case (end, wrap, behind head)
        for (int round = 0; round < 200; round++)
        {
            int n = 7 + round * 13 % 41;
            var data = Bytes(n, seed++);
            while (!q.CanAccept(n))
            {
                var r = q.Peek();
                Assert.Equal(expected.Dequeue(), q.Payload(r).ToArray());
                q.Dequeue();
            }
            Assert.True(q.TryEnqueue((uint)round, 1, data));
            expected.Enqueue(data);
        }
        while (!q.IsEmpty)
        {
            Assert.Equal(expected.Dequeue(), q.Payload(q.Peek()).ToArray());
            q.Dequeue();
        }
        Assert.Empty(expected);
    }

    [Fact]
    public void A_full_ring_refuses_and_changes_nothing()
    {
        var q = new DatagramQueue(100, 16);
        Assert.True(q.TryEnqueue(1, 2, Bytes(60, 1)));
        Assert.False(q.TryEnqueue(1, 2, Bytes(41, 2)));   // 40 bytes left
        Assert.True(q.TryEnqueue(3, 4, Bytes(40, 3)));
        Assert.Equal(2, q.Count);
        Assert.False(q.CanAccept(1));
        Assert.False(q.CanAccept(101));
        q.Dequeue();
        Assert.True(q.CanAccept(60));                     // wraps to the start, behind the head
        Assert.False(q.CanAccept(61));
        var r = q.Peek();
        Assert.Equal((3u, 4u), (r.SrcPort, r.DstPort));
        Assert.Equal(Bytes(40, 3), q.Payload(r).ToArray());
    }

    [Fact]
    public void Empty_datagrams_are_bounded_by_the_record_limit()
    {
        var q = new DatagramQueue(100, 4);
        for (int i = 0; i < 4; i++) Assert.True(q.TryEnqueue(0, 0, ReadOnlySpan<byte>.Empty));
        Assert.False(q.TryEnqueue(0, 0, ReadOnlySpan<byte>.Empty));
        q.Clear();
        Assert.True(q.IsEmpty);
        Assert.True(q.CanAccept(100));
    }
}
