namespace VsockNative.Protocol;

/// <summary>How the handshake ended. The muxer polls <see cref="Connection.ConnectOutcome"/> after each
/// call into the connection (see BEHAVIOUR.md, "Host-initiated connect").</summary>
public enum ConnectOutcome
{
    /// <summary>The handshake is not finished.</summary>
    Pending,

    /// <summary>Host-initiated: the guest's RESPONSE arrived. Guest-initiated: our RESPONSE was written.</summary>
    Established,

    /// <summary>The connection ended before it was established (guest RST, malformed packet, host failure...).</summary>
    Refused,

    /// <summary>Host-initiated: no RESPONSE within <see cref="ConnectionLimits.ConnectTimeoutMs"/>.</summary>
    TimedOut,
}
