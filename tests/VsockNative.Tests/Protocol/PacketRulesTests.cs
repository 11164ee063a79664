using System.Collections.Generic;
using VsockNative.Protocol;
using VsockNative.Wire;
using Xunit;

namespace VsockNative.Tests.Protocol;

public class PacketRulesTests
{
    private const ushort Stream = (ushort)VirtioVsockType.Stream, Seq = (ushort)VirtioVsockType.Seqpacket;
    private const ushort Req = 1, Resp = 2, Rst = 3, Shut = 4, Rw = 5, Upd = 6, CReq = 7;

    private static PacketHeader H(ushort type, ushort op, uint len = 0, uint flags = 0) =>
        new(3, 2, 50000, 1024, len, type, op, flags, 4096, 0);

    /// <summary>(header, payload bytes after it, expected fault). One line each says what is wrong.</summary>
    public static IEnumerable<object[]> Cases() => new[]
    {
        // well formed: every op with its legal fields
        new object[] { H(Stream, Req), 0u, PacketFault.None },
        new object[] { H(Stream, Resp), 0u, PacketFault.None },
        new object[] { H(Stream, Rst), 0u, PacketFault.None },
        new object[] { H(Stream, Shut, flags: 3), 0u, PacketFault.None },
        new object[] { H(Stream, Shut, flags: 0), 0u, PacketFault.None },            // SHUTDOWN of nothing: legal no-op
        new object[] { H(Stream, Rw, 100), 100u, PacketFault.None },
        new object[] { H(Stream, Rw, 0), 0u, PacketFault.None },                     // empty stream RW: legal no-op
        new object[] { H(Stream, Upd), 0u, PacketFault.None },
        new object[] { H(Stream, CReq), 0u, PacketFault.None },
        new object[] { H(Seq, Rw, 8, flags: 3), 8u, PacketFault.None },               // seqpacket RW with EOM|EOR
        // UnknownType
        new object[] { H(0, Rw, 1), 1u, PacketFault.UnknownType },                   // type 0 is not a socket type
        new object[] { H(4, Req), 0u, PacketFault.UnknownType },                     // type 4 does not exist
        new object[] { H(0xFFFF, 0xFFFF, 9, 9), 0u, PacketFault.UnknownType },       // type is checked before anything else
        // UnsupportedType
        new object[] { H((ushort)VirtioVsockType.Dgram, Rw, 4), 4u, PacketFault.UnsupportedType }, // datagrams are not offered
        // UnknownOp
        new object[] { H(Stream, 0), 0u, PacketFault.UnknownOp },                    // OP_INVALID
        new object[] { H(Stream, 8), 0u, PacketFault.UnknownOp },                    // one past CREDIT_REQUEST
        new object[] { H(Stream, 0xFFFF, 5, 5), 5u, PacketFault.UnknownOp },         // op is checked before len and flags
        // LenNotZero
        new object[] { H(Stream, Req, 4), 4u, PacketFault.LenNotZero },              // REQUEST with a payload
        new object[] { H(Stream, Upd, 1), 1u, PacketFault.LenNotZero },              // CREDIT_UPDATE with a payload
        new object[] { H(Stream, Shut, 2, flags: 9), 2u, PacketFault.LenNotZero },   // len is checked before flags
        // LenMismatch
        new object[] { H(Stream, Rw, 10), 9u, PacketFault.LenMismatch },             // RW promises more bytes than the chain has
        new object[] { H(Stream, Rw, 10), 11u, PacketFault.LenMismatch },            // RW chain has trailing bytes
        new object[] { H(Stream, Rst), 3u, PacketFault.LenMismatch },                // control packet followed by stray bytes
        // BadFlags
        new object[] { H(Stream, Req, flags: 1), 0u, PacketFault.BadFlags },         // REQUEST takes no flags
        new object[] { H(Stream, Resp, flags: 2), 0u, PacketFault.BadFlags },        // RESPONSE takes no flags
        new object[] { H(Stream, Rst, flags: 1), 0u, PacketFault.BadFlags },         // RST takes no flags
        new object[] { H(Stream, Shut, flags: 4), 0u, PacketFault.BadFlags },        // SHUTDOWN bit 2 is undefined
        new object[] { H(Stream, Shut, flags: 0x80000003), 0u, PacketFault.BadFlags }, // SHUTDOWN with a high bit beside RCV|SEND
        new object[] { H(Stream, Rw, 1, flags: 1), 1u, PacketFault.BadFlags },       // EOM on a stream RW
        new object[] { H(Seq, Rw, 1, flags: 4), 1u, PacketFault.BadFlags },          // seqpacket RW bit 2 is undefined
        new object[] { H(Seq, Shut, flags: 8), 0u, PacketFault.BadFlags },           // seqpacket SHUTDOWN: still only RCV|SEND
        new object[] { H(Stream, Upd, flags: 1), 0u, PacketFault.BadFlags },         // CREDIT_UPDATE takes no flags
        new object[] { H(Stream, CReq, flags: 2), 0u, PacketFault.BadFlags },        // CREDIT_REQUEST takes no flags
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Check_classifies_each_header(PacketHeader h, uint payload, PacketFault expected) =>
        Assert.Equal(expected, PacketRules.Check(h, payload));

    /// <summary>Every fault class, arriving on an established connection, resets it: RST owed, host
    /// closed, counted, and the fault remembered.</summary>
    [Theory]
    [InlineData(4, Rw, 1u, 0u, 1u, PacketFault.UnknownType)]        // unknown type
    [InlineData(3, Rw, 1u, 0u, 1u, PacketFault.UnsupportedType)]    // dgram on a stream connection
    [InlineData(Stream, 9, 0u, 0u, 0u, PacketFault.UnknownOp)]      // unknown op
    [InlineData(Stream, Upd, 2u, 0u, 2u, PacketFault.LenNotZero)]   // credit update with payload
    [InlineData(Stream, Rw, 5u, 0u, 4u, PacketFault.LenMismatch)]   // RW shorter than its len
    [InlineData(Stream, Shut, 0u, 16u, 0u, PacketFault.BadFlags)]   // undefined SHUTDOWN bit
    [InlineData(Stream, Rw, 1u, 2u, 1u, PacketFault.BadFlags)]      // EOR on stream
    public void A_malformed_packet_resets_the_connection(ushort type, ushort op, uint len, uint flags, uint payload, PacketFault fault)
    {
        using GuestSim g = GuestSim.Established();
        var data = new byte[payload];
        g.SendRaw(new PacketHeader(3, 2, 50000, 1024, len, type, op, flags, 4096, 0), g.Memory.From(data));
        Assert.Equal(ConnState.Resetting, g.Conn.State);
        Assert.Equal(EndReason.Malformed, g.Conn.EndReason);
        Assert.Equal(fault, g.Conn.LastFault);
        Assert.Equal(1ul, g.Conn.Counters.Malformed);
        Assert.True(g.Host.Closed);
        Assert.Equal(0, g.Host.ReceivedCount); // nothing of it reached the host
        Assert.Equal(VirtioVsockOp.Rst, g.Receive()!.Op);
        Assert.True(g.Conn.IsDone);
    }

    [Fact]
    public void A_seqpacket_packet_on_a_stream_connection_resets_it()
    {
        using GuestSim g = GuestSim.Established();
        g.SendRaw(g.Header(VirtioVsockOp.CreditUpdate, type: Seq), default);
        Assert.Equal(ConnState.Resetting, g.Conn.State);
        Assert.Equal(EndReason.UnsupportedType, g.Conn.EndReason);
    }
}
