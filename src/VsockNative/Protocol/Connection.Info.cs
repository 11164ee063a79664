namespace VsockNative.Protocol;

public sealed partial class Connection
{
    /// <summary>Identity, state, credit and counters, for diagnosis (vsn_device_get_connections).</summary>
    /// <param name="hostInitiated">Whether the host side opened the connection (the muxer knows).</param>
    public ConnectionInfo Snapshot(bool hostInitiated) => new()
    {
        HostCid = Key.HostCid,
        GuestCid = Key.GuestCid,
        HostPort = Key.HostPort,
        GuestPort = Key.GuestPort,
        Type = (uint)type,
        State = (uint)state,
        HostInitiated = hostInitiated ? 1u : 0u,
        EndReason = (uint)endReason,
        BufAlloc = bufAlloc,
        FwdCnt = ConsumedCnt,
        RxCnt = rxCnt,
        AdvertisedFree = AdvertisedFree,
        PeerBufAlloc = peerBufAlloc,
        PeerFwdCnt = peerFwdCnt,
        TxCnt = txCnt,
        PeerFree = PeerFree,
        BufferedToHost = (uint)BufferedToHost,
        Counters = counters,
    };
}
