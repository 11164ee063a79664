using System;

namespace VsockNative.Protocol;

/// <summary>Control packets owed to the guest, kept as a set until the guest posts rx buffers (at most
/// one of each, so bounded by construction). <see cref="Connection.FillRx"/> drains them in the order
/// of the values: RST first, data last.</summary>
[Flags]
public enum PendingReply
{
    /// <summary>Nothing owed.</summary>
    None = 0,

    /// <summary>RST: the connection is being reset.</summary>
    Rst = 1 << 0,

    /// <summary>REQUEST: host-initiated connect.</summary>
    Request = 1 << 1,

    /// <summary>RESPONSE: the guest's REQUEST is accepted.</summary>
    Response = 1 << 2,

    /// <summary>SHUTDOWN: a direction ended on the host side.</summary>
    Shutdown = 1 << 3,

    /// <summary>CREDIT_UPDATE: answer to CREDIT_REQUEST, or our free space must be re-advertised.</summary>
    CreditUpdate = 1 << 4,

    /// <summary>CREDIT_REQUEST: host data waits and the guest's credit is 0 (derived, never stored).</summary>
    CreditRequest = 1 << 5,
}
