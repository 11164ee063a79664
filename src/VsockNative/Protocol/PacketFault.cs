namespace VsockNative.Protocol;

/// <summary>Why <see cref="PacketRules.Check"/> found a header malformed. The rules are tried in the
/// order of this enum and the first failing one is reported. Every fault resets the connection it
/// belongs to (see BEHAVIOUR.md, "Fields per op").</summary>
public enum PacketFault
{
    /// <summary>The header is well formed.</summary>
    None = 0,

    /// <summary><c>type</c> is none of STREAM (1), SEQPACKET (2), DGRAM (3). The spec says: reply RST.</summary>
    UnknownType,

    /// <summary><c>type</c> is DGRAM (3): datagrams have their own rules (Connections/DatagramRouter,
    /// BEHAVIOUR.md "Datagrams"); the device never hands them to this stream/seqpacket check.</summary>
    UnsupportedType,

    /// <summary><c>op</c> is OP_INVALID (0) or above OP_CREDIT_REQUEST (7).</summary>
    UnknownOp,

    /// <summary>A non-RW op carries <c>len</c> != 0 (only RW has a payload).</summary>
    LenNotZero,

    /// <summary><c>len</c> differs from the number of payload bytes that follow the header in the
    /// chain (missing bytes, or trailing bytes the header does not account for).</summary>
    LenMismatch,

    /// <summary><c>flags</c> has a bit the op does not define: anything on REQUEST, RESPONSE, RST,
    /// CREDIT_UPDATE, CREDIT_REQUEST and stream RW; a bit other than RCV|SEND on SHUTDOWN; a bit other
    /// than EOM|EOR on seqpacket RW.</summary>
    BadFlags,
}
