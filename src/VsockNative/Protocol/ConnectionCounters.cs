using System.Runtime.InteropServices;

namespace VsockNative.Protocol;

/// <summary>The counters of one connection (in vsn_connection_info, and added up over the freed
/// connections in vsn_device_counters.ended_connections). "From guest" is the tx queue, "to guest" the rx queue; bytes are payload bytes (headers excluded).</summary>
[Interop.CSection(Interop.AbiSection.Diagnostics, 6)]
[Interop.CStruct("vsn_connection_counter_values")]
public struct ConnectionCounters
{
    /// <summary>Guest packets for this connection (including the accepted REQUEST).</summary>
    public ulong PacketsFromGuest;
    /// <summary>RW packets from the guest.</summary>
    public ulong DataPacketsFromGuest;
    /// <summary>RW payload bytes from the guest.</summary>
    public ulong BytesFromGuest;
    /// <summary>Guest bytes the host stream accepted (what our fwd_cnt counts).</summary>
    public ulong BytesToHost;
    /// <summary>Guest bytes copied into the connection's buffer because the host did not take them at once.</summary>
    public ulong BytesBuffered;
    /// <summary>Guest bytes discarded: the host stream was gone, or the connection was reset with data buffered.</summary>
    public ulong BytesDropped;
    /// <summary>Host writes that took less than offered (partial or would-block).</summary>
    public ulong HostShortWrites;

    /// <summary>Packets written into the guest's rx buffers.</summary>
    public ulong PacketsToGuest;
    /// <summary>RW packets written into the guest's rx buffers.</summary>
    public ulong DataPacketsToGuest;
    /// <summary>RW payload bytes written into the guest's rx buffers.</summary>
    public ulong BytesToGuest;

    /// <summary>RST packets sent.</summary>
    public ulong ResetsSent;
    /// <summary>RST packets received.</summary>
    public ulong ResetsReceived;
    /// <summary>SHUTDOWN packets sent.</summary>
    public ulong ShutdownsSent;
    /// <summary>SHUTDOWN packets received.</summary>
    public ulong ShutdownsReceived;
    /// <summary>CREDIT_UPDATE packets sent (answers and unsolicited).</summary>
    public ulong CreditUpdatesSent;
    /// <summary>CREDIT_REQUEST packets sent.</summary>
    public ulong CreditRequestsSent;
    /// <summary>CREDIT_UPDATE packets received.</summary>
    public ulong CreditUpdatesReceived;
    /// <summary>CREDIT_REQUEST packets received.</summary>
    public ulong CreditRequestsReceived;

    /// <summary>Guest headers that broke a header rule for their op and type (flags, len, buf_alloc), or
    /// used a socket type the connection does not have.</summary>
    public ulong Malformed;
    /// <summary>Guest RW packets larger than the credit we advertised.</summary>
    public ulong CreditViolations;
    /// <summary>Guest ops not valid in the connection's state (VSN_CONN_STATE_*).</summary>
    public ulong UnexpectedOps;
    /// <summary>REQUESTs for this already existing connection.</summary>
    public ulong DuplicateRequests;
    /// <summary>Packets that arrived after the connection was reset or closed, ignored.</summary>
    public ulong PacketsIgnored;

    /// <summary>Host-initiated connects the guest did not answer in time.</summary>
    public ulong ConnectTimeouts;
    /// <summary>Closes that hit the close timeout.</summary>
    public ulong CloseTimeouts;
    /// <summary>Host stream calls that failed (negative errno other than would-block, or a broken contract).</summary>
    public ulong HostErrors;
    /// <summary>Host socket hang-ups (the host end closed).</summary>
    public ulong HostHangups;

    /// <summary>Seqpacket: whole guest messages the host socket took (one sendmsg each).</summary>
    public ulong MessagesToHost;
    /// <summary>Seqpacket: guest messages that carried a record end (EOR), passed on as MSG_EOR.</summary>
    public ulong RecordEndsToHost;
    /// <summary>Seqpacket: whole host messages delivered to the guest (EOM written).</summary>
    public ulong MessagesToGuest;
    /// <summary>Seqpacket: host messages delivered with a record end (EOR).</summary>
    public ulong RecordEndsToGuest;
    /// <summary>Seqpacket: messages that could never be delivered whole (guest message beyond buf_alloc
    /// or refused by the host socket as too large; host message beyond either side's buf_alloc). Each resets.</summary>
    public ulong OversizeMessages;
    /// <summary>Seqpacket: more than 4096 guest messages waiting for the host socket. Resets.</summary>
    public ulong MessageQueueOverflows;

    /// <summary>Adds every counter of <paramref name="c"/> into <paramref name="total"/> (the struct is
    /// only <c>ulong</c> fields, so it is added as an array of them; allocation-free).</summary>
    public static void Add(ref ConnectionCounters total, in ConnectionCounters c)
    {
        var into = MemoryMarshal.Cast<ConnectionCounters, ulong>(MemoryMarshal.CreateSpan(ref total, 1));
        var from = MemoryMarshal.Cast<ConnectionCounters, ulong>(MemoryMarshal.CreateReadOnlySpan(in c, 1));
        for (int i = 0; i < into.Length; i++) into[i] += from[i];
    }
}
