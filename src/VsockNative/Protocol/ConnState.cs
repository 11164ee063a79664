namespace VsockNative.Protocol;

/// <summary>The one state of a connection (the transition table is in Connection.Transitions.cs and
/// BEHAVIOUR.md).</summary>
public enum ConnState
{
    /// <summary>Host-initiated: a REQUEST is owed or sent; waiting for the guest's RESPONSE.</summary>
    Connecting,

    /// <summary>Guest-initiated: the guest's REQUEST was accepted; our RESPONSE is owed.</summary>
    Accepting,

    /// <summary>Data flows; one direction may already be shut (half-closed).</summary>
    Established,

    /// <summary>Both directions are shut. Waiting until the buffered guest data reached the host and
    /// the RST exchange is done (ours owed once drained, or the guest's awaited), or the close timeout.</summary>
    Closing,

    /// <summary>Our RST is owed to the guest; the host stream is already closed.</summary>
    Resetting,

    /// <summary>Finished: nothing owed, host stream closed. The muxer frees the connection.</summary>
    Closed,
}
