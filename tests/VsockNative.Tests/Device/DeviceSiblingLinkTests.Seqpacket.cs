using System.Collections.Generic;
using VsockNative.Tests.Protocol;
using VsockNative.Wire;
using Xunit;

namespace VsockNative.Tests.Device;

// Seqpacket over a link: every message arrives whole, in order, with its record end, both ways.
public sealed partial class DeviceSiblingLinkTests
{
    [Fact]
    public void Seqpacket_messages_keep_their_boundaries_and_record_ends_both_ways()
    {
        int sockets = OpenSockets();
        var (a, b) = Open(_a, _b, 5000, VirtioVsockType.Seqpacket);
        Assert.Equal(sockets, OpenSockets());
        // Sizes around the rx buffer's payload (4052) and up to the device's buf_alloc (the largest a
        // guest may send); empty messages too. Every other one ends a record.
        int[] sizes = { 0, 1, 4051, 4052, 4053, 8104, 30_000, 0, 65_535, (int)DeviceBufAlloc, 7, 12_345 };
        var messages = new List<(byte[] Data, bool Eor)>();
        for (int i = 0; i < 3 * sizes.Length; i++)
            messages.Add((TestPattern.ToArray(i * 7919, sizes[i % sizes.Length]), i % 2 == 1));

        int nextA = 0, nextB = 0, doneA = 0, doneB = 0;
        Assert.True(Pump(() => b.Messages.Count == messages.Count && a.Messages.Count == messages.Count, () =>
        {
            while (nextA < messages.Count && _a.SendMessage(a, messages[nextA].Data, messages[nextA].Eor, ref doneA)) { nextA++; doneA = 0; }
            while (nextB < messages.Count && _b.SendMessage(b, messages[nextB].Data, messages[nextB].Eor, ref doneB)) { nextB++; doneB = 0; }
        }), $"a got {a.Messages.Count}, b got {b.Messages.Count} of {messages.Count}");
        for (int i = 0; i < messages.Count; i++)
        {
            Assert.Equal(messages[i].Data, b.Messages[i].Data);
            Assert.Equal(messages[i].Eor, b.Messages[i].Eor);
            Assert.Equal(messages[i].Data, a.Messages[i].Data);
            Assert.Equal(messages[i].Eor, a.Messages[i].Eor);
        }
        AssertClean(a);
        AssertClean(b);
        Assert.Equal(0u, a.PeerShutdown | b.PeerShutdown);
    }
}
