using VsockNative.Wire;

namespace VsockNative.Protocol;

/// <summary>
/// The rules of BEHAVIOUR.md for header fields per op and type. Pure classification: whether a
/// connection exists, the CIDs and the ports are the muxer's business, credit is the connection's.
/// </summary>
public static class PacketRules
{
    private const uint ShutdownBits = (uint)(VirtioVsockShutdown.Rcv | VirtioVsockShutdown.Send);
    private const uint SeqpacketRwBits = (uint)(VirtioVsockRw.Eom | VirtioVsockRw.Eor);

    /// <summary>Classifies a header.</summary>
    /// <param name="h">The decoded header.</param>
    /// <param name="payloadLength">Bytes that follow the header in the guest's buffers.</param>
    /// <returns><see cref="PacketFault.None"/>, or the first rule (in enum order) the header breaks.</returns>
    public static PacketFault Check(in PacketHeader h, uint payloadLength)
    {
        var type = (VirtioVsockType)h.Type;
        if (type is not (VirtioVsockType.Stream or VirtioVsockType.Seqpacket or VirtioVsockType.Dgram))
            return PacketFault.UnknownType;
        if (type == VirtioVsockType.Dgram)
            return PacketFault.UnsupportedType;

        var op = (VirtioVsockOp)h.Op;
        if (op is < VirtioVsockOp.Request or > VirtioVsockOp.CreditRequest)
            return PacketFault.UnknownOp;
        if (op != VirtioVsockOp.Rw && h.Len != 0)
            return PacketFault.LenNotZero;
        if (h.Len != payloadLength)
            return PacketFault.LenMismatch;

        uint allowed = op switch
        {
            VirtioVsockOp.Shutdown => ShutdownBits,
            VirtioVsockOp.Rw when type == VirtioVsockType.Seqpacket => SeqpacketRwBits,
            _ => 0,
        };
        return (h.Flags & ~allowed) != 0 ? PacketFault.BadFlags : PacketFault.None;
    }
}
