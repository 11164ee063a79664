using System;
using VsockNative.Protocol;
using VsockNative.Wire;
using Xunit;

namespace VsockNative.Tests.Protocol;

public class AllocationTests
{
    /// <summary>Steady-state transfer both ways — direct host writes, partial writes into the pooled
    /// buffer and flushes, rx buffers with many pieces (the rented scratch list), credit updates and
    /// requests — allocates nothing after warm-up.</summary>
    [Fact]
    public void Steady_state_transfer_allocates_nothing()
    {
        using GuestSim g = GuestSim.Established();
        g.Host.Record = false;
        g.Host.Readable = long.MaxValue;
        IoVec[] rx = g.Memory.Split(8192 + 44, 20);
        IoVec[] rxMany = g.Memory.Split(8192 + 44, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 610, 987, 1597, 2584, 4181, 6765);
        var rwHeader = new PacketHeader[4];
        for (int i = 0; i < rwHeader.Length; i++)
            rwHeader[i] = g.Header(VirtioVsockOp.Rw, (uint)(1000 * (i + 1)));
        var payload = new IoVec[1];

        long position = 0;
        Run(g, rx, rxMany, payload, ref position, 20_000); // warm-up: JIT, tiering, pools
        long before = GC.GetAllocatedBytesForCurrentThread();
        Run(g, rx, rxMany, payload, ref position, 20_000);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
        Assert.Equal(ConnState.Established, g.Conn.State);
        Assert.True(g.Conn.Counters.BytesBuffered > 0);
        Assert.True(g.Conn.Counters.CreditUpdatesSent > 0);
        Assert.Equal(0ul, g.Conn.Counters.CreditViolations);
    }

    private static void Run(GuestSim g, IoVec[] rx, IoVec[] rxMany, IoVec[] payload, ref long position, int rounds)
    {
        Connection c = g.Conn;
        for (int i = 0; i < rounds; i++)
        {
            uint n = Math.Min(g.PeerFree, (uint)(1000 + (i % 7) * 3000));
            if (n > 0)
            {
                g.Host.WriteBudget = (i % 5) == 0 ? n / 2 : long.MaxValue; // every fifth write is partial
                payload[0] = TestPattern.At(position, (int)n);
                c.OnGuestPacket(g.Header(VirtioVsockOp.Rw, n), payload, g.Now);
                g.TxCnt += n;
                g.LastFwdSent = g.FwdCnt;
                position += n;
            }

            g.Host.WriteBudget = long.MaxValue;
            if (c.WantsHostWrite)
                c.OnHostWritable(g.Now);
            if (c.WantsHostRead)
                c.OnHostReadable(g.Now);
            if ((i & 63) < 32)
                continue; // the guest posts no rx buffers for a while: its view of our credit runs low
            IoVec[] buffer = (i & 1) == 0 ? rx : rxMany;
            if (c.FillRx(buffer, g.Now) != 0)
                g.Learn(PacketHeader.Read(buffer));
        }
    }

    /// <summary>Seqpacket steady state — messages in one packet straight to the host, messages gathered
    /// from pieces, messages queued while the host would block, host messages split across rx
    /// buffers through the rest buffer — allocates nothing after warm-up.</summary>
    [Fact]
    public void Steady_state_seqpacket_transfer_allocates_nothing()
    {
        var host = new FakeHostMessages { Record = false, EndlessSizes = new[] { 100, 6000, 20_000, 0 } };
        using GuestSim g = GuestSim.Seqpacket(host: host);
        IoVec[] rx = g.Memory.Split(4096 + 44, 20);
        var payload = new IoVec[1];
        long position = 0;
        RunSeqpacket(g, rx, payload, ref position, 20_000);
        long before = GC.GetAllocatedBytesForCurrentThread();
        RunSeqpacket(g, rx, payload, ref position, 20_000);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
        Assert.Equal(ConnState.Established, g.Conn.State);
        Assert.True(g.Conn.Counters.BytesBuffered > 0);
        Assert.True(g.Conn.Counters.MessagesToGuest > 1000);
        Assert.True(host.MessagesSent > 1000);
    }

    private static void RunSeqpacket(GuestSim g, IoVec[] rx, IoVec[] payload, ref long position, int rounds)
    {
        Connection c = g.Conn;
        var host = (FakeHostMessages)g.Host;
        for (int i = 0; i < rounds; i++)
        {
            uint n = Math.Min(g.PeerFree, (uint)(500 + (i % 5) * 700));
            host.Blocked = (i % 11) < 3; // now and then the host takes nothing for a while
            if (n > 0)
            {
                payload[0] = TestPattern.At(position, (int)n);
                uint flags = (i % 3) == 0 ? 0u : (uint)VirtioVsockRw.Eom; // every third piece continues a message
                c.OnGuestPacket(g.Header(VirtioVsockOp.Rw, n, flags), payload, g.Now);
                g.TxCnt += n;
                g.LastFwdSent = g.FwdCnt;
                position += n;
            }

            host.Blocked = false;
            if (c.WantsHostWrite)
                c.OnHostWritable(g.Now);
            if (c.WantsHostRead)
                c.OnHostReadable(g.Now);
            if (c.FillRx(rx, g.Now) != 0)
                g.Learn(PacketHeader.Read(rx));
        }
    }
}
