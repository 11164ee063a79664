using VsockNative.Protocol;

namespace VsockNative.Interop;

/// <summary>Values of vsn_connection_info.state (the connection's one state, see BEHAVIOUR.md).</summary>
[CSection(AbiSection.Diagnostics, 1)]
internal static class ConnStateAbi
{
    /// <summary>Host-initiated: waiting for the guest's RESPONSE.</summary>
    [CDefine("VSN_CONN_STATE_CONNECTING")] public const uint Connecting = (uint)ConnState.Connecting;
    /// <summary>Guest-initiated: our RESPONSE is owed.</summary>
    [CDefine("VSN_CONN_STATE_ACCEPTING")] public const uint Accepting = (uint)ConnState.Accepting;
    /// <summary>Data flows (one direction may be shut).</summary>
    [CDefine("VSN_CONN_STATE_ESTABLISHED")] public const uint Established = (uint)ConnState.Established;
    /// <summary>Both directions shut; draining and exchanging RST.</summary>
    [CDefine("VSN_CONN_STATE_CLOSING")] public const uint Closing = (uint)ConnState.Closing;
    /// <summary>Our RST is owed to the guest.</summary>
    [CDefine("VSN_CONN_STATE_RESETTING")] public const uint Resetting = (uint)ConnState.Resetting;
    /// <summary>Finished; freed at once.</summary>
    [CDefine("VSN_CONN_STATE_CLOSED")] public const uint Closed = (uint)ConnState.Closed;
}

/// <summary>Values of vsn_connection_info.end_reason.</summary>
[CSection(AbiSection.Diagnostics, 2)]
internal static class EndReasonAbi
{
    /// <summary>Still open.</summary>
    [CDefine("VSN_CONN_END_NONE")] public const uint None = (uint)EndReason.None;
    /// <summary>Both directions shut and the RST exchange completed.</summary>
    [CDefine("VSN_CONN_END_GRACEFUL")] public const uint Graceful = (uint)EndReason.Graceful;
    /// <summary>The guest aborted with RST.</summary>
    [CDefine("VSN_CONN_END_GUEST_RESET")] public const uint GuestReset = (uint)EndReason.GuestReset;
    /// <summary>The guest refused a host-initiated connection.</summary>
    [CDefine("VSN_CONN_END_REFUSED")] public const uint Refused = (uint)EndReason.Refused;
    /// <summary>The guest did not answer a host-initiated REQUEST in time.</summary>
    [CDefine("VSN_CONN_END_CONNECT_TIMEOUT")] public const uint ConnectTimeout = (uint)EndReason.ConnectTimeout;
    /// <summary>Closing took longer than the close timeout.</summary>
    [CDefine("VSN_CONN_END_CLOSE_TIMEOUT")] public const uint CloseTimeout = (uint)EndReason.CloseTimeout;
    /// <summary>A malformed guest packet reset the connection.</summary>
    [CDefine("VSN_CONN_END_MALFORMED")] public const uint Malformed = (uint)EndReason.Malformed;
    /// <summary>The guest used a socket type the connection does not have.</summary>
    [CDefine("VSN_CONN_END_UNSUPPORTED_TYPE")] public const uint UnsupportedType = (uint)EndReason.UnsupportedType;
    /// <summary>The guest sent more than the credit it was given.</summary>
    [CDefine("VSN_CONN_END_CREDIT_VIOLATION")] public const uint CreditViolation = (uint)EndReason.CreditViolation;
    /// <summary>An op not valid in the connection's state.</summary>
    [CDefine("VSN_CONN_END_UNEXPECTED_OP")] public const uint UnexpectedOp = (uint)EndReason.UnexpectedOp;
    /// <summary>A REQUEST for this existing connection.</summary>
    [CDefine("VSN_CONN_END_DUPLICATE_REQUEST")] public const uint DuplicateRequest = (uint)EndReason.DuplicateRequest;
    /// <summary>The host socket failed or hung up before the connection was established.</summary>
    [CDefine("VSN_CONN_END_HOST_FAILURE")] public const uint HostFailure = (uint)EndReason.HostFailure;
    /// <summary>Seqpacket: a message larger than the buffers on its way (guest's or ours, or the host socket's).</summary>
    [CDefine("VSN_CONN_END_OVERSIZE_MESSAGE")] public const uint OversizeMessage = (uint)EndReason.OversizeMessage;
    /// <summary>Seqpacket: too many guest messages waiting for the host socket.</summary>
    [CDefine("VSN_CONN_END_MESSAGE_QUEUE_OVERFLOW")] public const uint MessageQueueOverflow = (uint)EndReason.MessageQueueOverflow;
    /// <summary>Dropped by TRANSPORT_RESET or a device reset (seen only in the log: the connection is freed at once).</summary>
    [CDefine("VSN_CONN_END_DEVICE_RESET")] public const uint DeviceReset = (uint)EndReason.DeviceReset;
}

/// <summary>Bits of vsn_connection_info.flags.</summary>
internal static class ConnFlagsAbi
{
    /// <summary>A guest-to-guest connection carried device to device inside this process, without a
    /// socket (both devices belong to this library: see vsn_connect_from).</summary>
    [CDefine("VSN_CONN_F_DIRECT_LINK")] public const uint DirectLink = ConnectionInfoFlags.DirectLink;
}
