namespace VsockNative.Connections;

/// <summary>Counters of the connection layer (per device): connections opened and closed, guest
/// REQUESTs refused by reason, routing. The counters of each connection are
/// vsn_connection_counter_values.</summary>
[Interop.CSection(Interop.AbiSection.Diagnostics, 4)]
[Interop.CStruct("vsn_connection_layer_counter_values", DeprecatedAlias = "vsn_conn_counter_values", DeprecatedSince = "0.5")]
public struct MuxerCounters
{
    /// <summary>Connections opened (guest- and host-initiated).</summary>
    public ulong ConnectionsOpened;
    /// <summary>Connections finished and freed.</summary>
    public ulong ConnectionsClosed;
    /// <summary>Guest REQUESTs refused with RST because no host endpoint listens on the port.</summary>
    public ulong RefusedNoListener;
    /// <summary>Guest REQUESTs refused with RST because the connection limit was reached.</summary>
    public ulong RefusedLimit;
    /// <summary>Packets dropped because src_cid was not the guest's CID (spoofing).</summary>
    public ulong Spoofed;
    /// <summary>Packets for a CID that is neither the host nor a reachable sibling: answered with RST.</summary>
    public ulong UnknownDestination;
    /// <summary>Malformed packets for no connection (unknown type/op, bad len/flags): answered with RST.</summary>
    public ulong Malformed;
    /// <summary>Packets other than REQUEST and RST for no connection: answered with RST.</summary>
    public ulong NoConnection;
    /// <summary>RSTs for no connection: ignored (never answer a RST).</summary>
    public ulong RstIgnored;
    /// <summary>RST replies dropped because too many were already waiting for rx buffers.</summary>
    public ulong ResetsDropped;
    /// <summary>Host clients of the hybrid socket refused: bad CONNECT line, timeout, or limit.</summary>
    public ulong HandshakesRejected;
    /// <summary>Host-initiated connections the guest refused or did not answer in time.</summary>
    public ulong HostConnectsRefused;
    /// <summary>SEQPACKET REQUESTs refused with RST because the driver did not negotiate VIRTIO_VSOCK_F_SEQPACKET.</summary>
    public ulong SeqpacketNotNegotiated;
    /// <summary>Guest REQUESTs to a sibling CID handed to the router and accepted by the sibling guest.</summary>
    public ulong RoutesOpened;
    /// <summary>Guest REQUESTs to a sibling CID refused with RST: no router, the router or the target
    /// device refused, the sibling guest refused or did not answer in time.</summary>
    public ulong RoutesRefused;
    /// <summary>Connections opened by vsn_device_connect_from (a sibling's guest connecting to this guest).</summary>
    public ulong RoutedIn;
}

/// <summary>What the connection layer could not do for lack of host resources (file descriptors,
/// memory). A tail of vsn_device_counters since ABI 0.6, so the members before it keep their offsets.</summary>
[Interop.CSection(Interop.AbiSection.Diagnostics, 4)]
[Interop.CStruct("vsn_resource_counter_values")]
public struct ResourceCounters
{
    /// <summary>Guest REQUESTs refused with RST because the process had no file descriptor or memory
    /// left for the host end (EMFILE, ENFILE, ENOBUFS, ENOMEM from socket, connect or socketpair).</summary>
    public ulong RefusedNoResources;
    /// <summary>Times the hybrid socket stopped accepting because accept failed for lack of file
    /// descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM): its clients wait in the backlog and
    /// accepting is tried again 100 ms later (never at every turn of the event loop).</summary>
    public ulong AcceptPauses;
}
