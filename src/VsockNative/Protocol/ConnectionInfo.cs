namespace VsockNative.Protocol;

/// <summary>One connection as vsn_device_get_connections reports it: identity, state, credit in both
/// directions and the connection's counters. A snapshot taken on the device's lock.</summary>
[Interop.CSection(Interop.AbiSection.Diagnostics, 8)]
[Interop.CStruct("vsn_connection_info")]
public struct ConnectionInfo
{
    /// <summary>CID of the host end (2, or a sibling guest's CID for a routed connection).</summary>
    public ulong HostCid;
    /// <summary>The guest's CID.</summary>
    public ulong GuestCid;
    /// <summary>Port of the host end.</summary>
    public uint HostPort;
    /// <summary>Port of the guest end.</summary>
    public uint GuestPort;
    /// <summary>Socket type: VSN_VIRTIO_VSOCK_TYPE_STREAM or VSN_VIRTIO_VSOCK_TYPE_SEQPACKET.</summary>
    public uint Type;
    /// <summary>VSN_CONN_STATE_*.</summary>
    public uint State;
    /// <summary>1 when the host side opened the connection (vsn_device_connect or the hybrid CONNECT), else 0.</summary>
    public uint HostInitiated;
    /// <summary>VSN_CONN_END_* once the connection is ending, VSN_CONN_END_NONE while open.</summary>
    public uint EndReason;
    /// <summary>Our buf_alloc: bytes the device buffers for this connection (guest to host).</summary>
    public uint BufAlloc;
    /// <summary>Our fwd_cnt: guest bytes the host socket accepted (free-running, wraps at 2^32); for a
    /// direct link, the bytes the sibling device took from it (the credit is end to end).</summary>
    public uint FwdCnt;
    /// <summary>Guest bytes received (free-running).</summary>
    public uint RxCnt;
    /// <summary>Bytes the guest may still send as far as it knows.</summary>
    public uint AdvertisedFree;
    /// <summary>The guest's buf_alloc, from its last packet.</summary>
    public uint PeerBufAlloc;
    /// <summary>The guest's fwd_cnt, from its last packet.</summary>
    public uint PeerFwdCnt;
    /// <summary>Bytes sent to the guest (free-running): our tx_cnt.</summary>
    public uint TxCnt;
    /// <summary>Bytes we may still send the guest: peer_buf_alloc - (tx_cnt - peer_fwd_cnt).</summary>
    public uint PeerFree;
    /// <summary>Guest bytes waiting in the device for the host socket (for a direct link: also those in
    /// the link that the sibling device has not taken yet).</summary>
    public uint BufferedToHost;
    /// <summary>VSN_CONN_F_* bits (VSN_CONN_F_DIRECT_LINK: a guest-to-guest connection carried device
    /// to device inside this process, without a socket); 0 for any other connection.</summary>
    public uint Flags;
    /// <summary>The connection's counters.</summary>
    public ConnectionCounters Counters;
}

/// <summary>Bits of <see cref="ConnectionInfo.Flags"/>.</summary>
public static class ConnectionInfoFlags
{
    /// <summary>The host side is a direct link to a sibling device of this process (no socket).</summary>
    public const uint DirectLink = 1;
}
