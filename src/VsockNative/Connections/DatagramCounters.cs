namespace VsockNative.Connections;

/// <summary>Counters of the datagram layer (per device): traffic each way and every drop by reason.
/// "Guest to host" datagrams came from the tx queue, "host to guest" ones went into rx buffers.</summary>
[Interop.CSection(Interop.AbiSection.Diagnostics, 5)]
[Interop.CStruct("vsn_dgram_counter_values")]
public struct DatagramCounters
{
    /// <summary>Datagrams from the guest handed to a host endpoint (whole, after reassembly).</summary>
    public ulong GuestToHostDatagrams;
    /// <summary>Payload bytes of those datagrams.</summary>
    public ulong GuestToHostBytes;
    /// <summary>Datagrams from host endpoints written whole into the guest's rx buffers.</summary>
    public ulong HostToGuestDatagrams;
    /// <summary>Payload bytes of those datagrams.</summary>
    public ulong HostToGuestBytes;
    /// <summary>Datagram fragments (type DGRAM RW packets) taken from the guest.</summary>
    public ulong FragmentsReceived;
    /// <summary>Datagram fragments (type DGRAM RW packets) written for the guest.</summary>
    public ulong FragmentsSent;
    /// <summary>Dropped: larger than the datagram limit (65536 bytes), either way, or refused by the host socket as too long.</summary>
    public ulong DroppedTooBig;
    /// <summary>Guest datagrams dropped because the host socket had no room (EAGAIN / ENOBUFS): no backpressure to the guest.</summary>
    public ulong DroppedNoRxSpace;
    /// <summary>Guest datagrams to a host port where nothing is bound: dropped and answered with RST.</summary>
    public ulong DroppedNoListener;
    /// <summary>Guest datagram packets dropped as malformed: op other than RW/RST, unknown flags, hdr.len
    /// not the bytes that follow, spoofed src_cid, wrong queue, or a fragment sequence broken by
    /// another packet (the partial datagram is dropped too).</summary>
    public ulong DroppedMalformed;
    /// <summary>Partial guest datagrams dropped because their last fragment did not come in time.</summary>
    public ulong DroppedReassemblyTimeout;
    /// <summary>Datagram packets dropped because VIRTIO_VSOCK_F_DGRAM was not negotiated (either way).</summary>
    public ulong DroppedNotNegotiated;
    /// <summary>Guest datagrams a host socket refused with another error (logged with its errno).</summary>
    public ulong DroppedHostError;
    /// <summary>Host datagrams dropped as malformed: no valid address prefix, or a sender not bound at "&lt;uds_path&gt;_P".</summary>
    public ulong HostMalformed;
    /// <summary>Device-owned datagram sockets not created because max_dgram_sockets were open (the datagram is dropped).</summary>
    public ulong SocketsRefused;
    /// <summary>Device-owned datagram sockets closed after being idle.</summary>
    public ulong SocketsExpired;
    /// <summary>RST packets of type DGRAM from the guest (its answer to a datagram for a port with no socket).</summary>
    public ulong RstReceived;
    /// <summary>RST packets of type DGRAM sent to the guest (a datagram for a host port with no socket).</summary>
    public ulong RstSent;
    /// <summary>RST replies dropped because too many were already waiting for rx buffers.</summary>
    public ulong ResetsDropped;
}
