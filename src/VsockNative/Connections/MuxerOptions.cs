using VsockNative.Protocol;

namespace VsockNative.Connections;

/// <summary>Host endpoints and limits of one device.</summary>
internal sealed class MuxerOptions
{
    /// <summary>Hybrid-vsock Unix socket path: host programs connect here and write "CONNECT &lt;port&gt;\n";
    /// a guest connecting to port P reaches the listener at "&lt;path&gt;_P". Null: no Unix endpoints.</summary>
    public string? UdsPath { get; init; }

    /// <summary>Guest stream connections to the host with no fd listener go to the router (dst CID 2)
    /// instead of to "&lt;UdsPath&gt;_P" (VSN_DEVICE_F_ROUTE_HOST).</summary>
    public bool RouteHost { get; init; }

    /// <summary>Per-connection limits (buf_alloc: bytes buffered per connection, timeouts).</summary>
    public ConnectionLimits Limits { get; init; } = ConnectionLimits.Default;

    /// <summary>Connections at most; a REQUEST beyond it is answered with RST and counted.</summary>
    public int MaxConnections { get; init; } = 1024;

    /// <summary>RST replies to packets for unknown connections that may wait for rx buffers; more are
    /// counted as dropped (the guest's packets went nowhere anyway).</summary>
    public int MaxPendingResets { get; init; } = 1024;

    /// <summary>How long a host client may take to send its CONNECT line.</summary>
    public long HandshakeTimeoutMs { get; init; } = 5000;

    /// <summary>Pending hybrid clients (not yet CONNECTed) at most.</summary>
    public int MaxHandshakes { get; init; } = 64;
}
