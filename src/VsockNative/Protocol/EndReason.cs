namespace VsockNative.Protocol;

/// <summary>Why a connection ended (or is ending); the first reason wins. The muxer logs it with the
/// ports when it frees the connection.</summary>
public enum EndReason
{
    /// <summary>Still open.</summary>
    None,

    /// <summary>Both directions were shut and the RST exchange completed normally.</summary>
    Graceful,

    /// <summary>The guest sent RST before both directions were shut (abort).</summary>
    GuestReset,

    /// <summary>Host-initiated: the guest answered our REQUEST with RST.</summary>
    Refused,

    /// <summary>Host-initiated: no RESPONSE within the connect timeout.</summary>
    ConnectTimeout,

    /// <summary>Closing took longer than the close timeout (guest never answered, or host never drained).</summary>
    CloseTimeout,

    /// <summary>A guest header broke a rule of <see cref="PacketRules"/> (see <see cref="Connection.LastFault"/>).</summary>
    Malformed,

    /// <summary>The guest used a socket type other than the connection's on it.</summary>
    UnsupportedType,

    /// <summary>The guest sent more RW payload than the credit we advertised.</summary>
    CreditViolation,

    /// <summary>An op that is not valid in the connection's state (the default arm of the transition switch).</summary>
    UnexpectedOp,

    /// <summary>A REQUEST arrived for this already existing connection.</summary>
    DuplicateRequest,

    /// <summary>The host stream failed or hung up before the connection was established.</summary>
    HostFailure,

    /// <summary>Seqpacket: a message could never be delivered whole (see <see cref="ConnectionCounters.OversizeMessages"/>).</summary>
    OversizeMessage,

    /// <summary>Seqpacket: the guest queued more messages than the device holds for a host that does not take them.</summary>
    MessageQueueOverflow,

    /// <summary>Dropped by the device: TRANSPORT_RESET, a device reset or a frontend that went away.</summary>
    DeviceReset,
}
