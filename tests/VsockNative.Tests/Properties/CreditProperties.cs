using System;
using FsCheck;
using FsCheck.Fluent;
using VsockNative.Protocol;
using VsockNative.Tests.Protocol;
using VsockNative.Wire;

namespace VsockNative.Tests.Properties;

/// <summary>Credit arithmetic across 2^32 (virtio 1.3 5.10.6.3): whatever the starting point of the
/// free-running counters, however the guest's reading and the host's writing interleave, the device
/// never sends the guest more than its credit, and every byte arrives once, in order.</summary>
public sealed class CreditProperties
{
    private static readonly Config Runs = Config.QuickThrowOnFailure.WithMaxTest(200);

    [Xunit.Fact]
    public void Peer_free_matches_the_unwrapped_arithmetic()
    {
        Prop.ForAll<uint, uint, uint>((bufAlloc, start, inFlight) =>
        {
            uint sent = start;
            uint tx = unchecked(start + inFlight);          // tx_cnt may have wrapped past 2^32
            ulong outstanding = inFlight;                    // what is really in flight, unwrapped
            uint expected = outstanding >= bufAlloc ? 0 : (uint)(bufAlloc - outstanding);
            return CreditMath.Free(bufAlloc, tx, sent) == expected;
        }).Check(Runs);
    }

    [Xunit.Fact]
    public void The_device_never_exceeds_the_guests_credit_and_loses_nothing_across_the_wrap()
    {
        var steps = Gen.Choose(1, 70_000).Zip(Gen.Choose(0, 3)).ArrayOf();
        var gen = Gen.Choose(1, 1 << 18).Zip(Gen.Choose(-300_000, 300_000)).Zip(steps);
        Prop.ForAll(gen.ToArbitrary(), t => Run(t.Item1.Item1, t.Item1.Item2, t.Item2) is not { } why
            ? true : throw new InvalidOperationException(why)).Check(Runs);
    }

    /// <summary>One plan: null when it held, else what went wrong.</summary>
    private static string? Run(int bufAlloc, int offset, (int, int)[] plan)
    {
        {
            uint initial = unchecked((uint)offset);  // counters start just before or after 2^32
            var host = new FakeHostStream { Record = false };
            using var g = GuestSim.Accepting(initialCount: initial, host: host, guestBufAlloc: (uint)bufAlloc);
            g.AutoConsume = false;
            if (g.Receive()?.Op != VirtioVsockOp.Response) return "no RESPONSE";
            long written = 0, received = 0;
            uint unread = 0;  // bytes the guest holds and has not consumed
            foreach (var (amount, action) in plan)
            {
                switch (action)
                {
                    case 0:  // the host program writes
                        host.Readable += amount;
                        written += amount;
                        g.Conn.OnHostReadable(g.Now);
                        break;
                    case 1:  // the guest application reads some of what it holds
                        uint n = Math.Min(unread, (uint)amount);
                        unread -= n;
                        g.Consume(n);
                        break;
                    default: // an rx buffer of some size
                        var r = g.Receive(44 + Math.Max(1, amount % 65_536));
                        if (r is null) break;
                        if (r.Op == VirtioVsockOp.Rw)
                        {
                            received += r.Header.Len;
                            unread += r.Header.Len;
                            if (unread > (uint)bufAlloc) return $"{unread} unread bytes in a guest of buf_alloc {bufAlloc}";
                        }
                        break;
                }
            }
            // then drain: the guest reads everything and posts buffers until nothing is owed
            for (int i = 0; i < 100_000 && received < written; i++)
            {
                g.Consume(unread);
                unread = 0;
                var r = g.Receive(4096 + 44);
                if (r?.Op == VirtioVsockOp.Rw)
                {
                    received += r.Header.Len;
                    unread += r.Header.Len;
                    if (unread > (uint)bufAlloc) return $"drain: {unread} unread bytes in a guest of buf_alloc {bufAlloc}";
                }
            }
            return received == written && host.ReadPosition == written ? null
                : $"written {written}, read by the device {host.ReadPosition}, received {received}; state {g.Conn.State}, peer free {g.Conn.PeerFree}, pending {g.Conn.Pending}";
        }
    }
}
