using System;
using FsCheck;
using FsCheck.Fluent;
using VsockNative.Protocol;
using VsockNative.Tests.Protocol;
using VsockNative.Wire;

namespace VsockNative.Tests.Properties;

/// <summary>The connection state machine under any sequence of guest packets, from every state:
/// every op (valid or not), flags, lengths and types, with rx buffers of any size in between. It never
/// throws; every packet it writes is a real op of the connection's type between the connection's two
/// addresses; a RST ends the connection and is never answered; nothing is owed once it is done.</summary>
public sealed class ConnectionProperties
{
    private static Gen<(ushort Op, uint Flags, int Len, ushort Type, int Rx)> Step =>
        from op in Gen.Frequency((10, Gen.Choose(1, 7)), (1, Gen.Elements(0, 8, 99)))
        from flags in Gen.Frequency((6, Gen.Constant(0)), (2, Gen.Choose(1, 3)), (1, Gen.Choose(0, 255)))
        from len in Gen.Frequency((6, Gen.Constant(0)), (3, Gen.Choose(1, 5000)))
        from type in Gen.Frequency((10, Gen.Constant((int)VirtioVsockType.Stream)), (1, Gen.Elements(2, 3, 77)))
        from rx in Gen.Frequency((3, Gen.Constant(0)), (3, Gen.Choose(44, 9000)), (1, Gen.Choose(1, 43)))
        select ((ushort)op, (uint)flags, len, (ushort)type, rx);

    [Xunit.Fact]
    public void Any_packet_sequence_from_any_state_keeps_the_rules()
    {
        var gen = from start in Gen.Choose(0, 3)
                  from steps in Step.ArrayOf()
                  select (start, steps);
        Prop.ForAll(gen.ToArbitrary(), t => Run(t.start, t.steps) is not { } why
            ? true : throw new InvalidOperationException(why)).Check(Config.QuickThrowOnFailure.WithMaxTest(400));
    }

    private static string? Run(int start, (ushort Op, uint Flags, int Len, ushort Type, int Rx)[] steps)
    {
        using var g = start switch
        {
            0 => GuestSim.Accepting(),
            1 => GuestSim.Established(),
            2 => Closing(),
            _ => Connecting(),
        };
        g.AnswerFullShutdownWithRst = false;  // the plan decides what the guest sends
        g.Host.Readable = 1 << 20;            // the host has data for the guest
        foreach (var s in steps)
        {
            var h = new PacketHeader(GuestSim.Key.GuestCid, GuestSim.Key.HostCid, GuestSim.Key.GuestPort, GuestSim.Key.HostPort,
                (uint)s.Len, s.Type, s.Op, s.Flags, g.BufAlloc, g.FwdCnt);
            var payload = g.Memory.From(new byte[s.Len]);
            bool wasDone = g.Conn.IsDone;
            g.Conn.OnGuestPacket(h, payload, g.Now);
            g.Conn.OnHostReadable(g.Now);
            if (s.Op == (ushort)VirtioVsockOp.Rst && !wasDone)
            {
                if (!g.Conn.IsDone) return $"a guest RST left the connection {g.Conn.State}";
                if (g.Conn.Pending != PendingReply.None || g.Conn.HasPendingRx) return $"a guest RST is answered ({g.Conn.Pending})";
            }
            if (s.Rx > 0 && Written(g, s.Rx) is { } bad) return bad;
            if (g.Conn.IsDone && g.Conn.HasPendingRx) return "a finished connection still owes packets";
        }
        return null;
    }

    /// <summary>One rx buffer: what the connection writes must be a real packet of this connection.</summary>
    private static string? Written(GuestSim g, int size)
    {
        var rx = g.Memory.Split(size);
        uint written = g.Conn.FillRx(rx, g.Now);
        if (written == 0) return null;
        if (written < VirtioVsockHdr.Size) return $"{written} bytes written, less than a header";
        var h = PacketHeader.Read(rx);
        if (h.Op is < 1 or > 7) return $"op {h.Op} sent";
        if (h.Type != (ushort)g.Conn.Type) return $"type {h.Type} sent on a type {(ushort)g.Conn.Type} connection";
        if (h.SrcCid != GuestSim.Key.HostCid || h.DstCid != GuestSim.Key.GuestCid || h.SrcPort != GuestSim.Key.HostPort || h.DstPort != GuestSim.Key.GuestPort)
            return "a packet with the wrong addresses";
        if (VirtioVsockHdr.Size + h.Len != written) return $"hdr.len {h.Len} but {written} bytes written";
        if (h.Op != (ushort)VirtioVsockOp.Rw && h.Len != 0) return $"op {h.Op} with payload";
        g.Learn(h);
        return null;
    }

    private static GuestSim Closing()
    {
        var g = GuestSim.Established();
        g.Host.Eof = true;             // the host ends its side: SHUTDOWN(SEND) goes out
        g.Conn.OnHostReadable(g.Now);
        g.ReceiveAll();
        return g;
    }

    private static GuestSim Connecting()
    {
        var g = GuestSim.Connecting();
        g.Receive();                   // the REQUEST went out; the guest has not answered
        return g;
    }
}
