using System;

namespace VsockNative.Protocol;

/// <summary>Per-connection sizes and timeouts. Immutable once built; one instance is shared by every
/// connection of a device.</summary>
public sealed class ConnectionLimits
{
    /// <summary>Largest accepted <see cref="BufAlloc"/> (1 GiB): buffer offsets stay in an int.</summary>
    public const uint MaxBufAlloc = 1u << 30;

    private readonly uint bufAlloc = 256 * 1024;
    private readonly long closeTimeoutMs = 2000;
    private readonly long connectTimeoutMs = 5000;

    /// <summary>Shared instance with the defaults.</summary>
    public static ConnectionLimits Default { get; } = new();

    /// <summary>Our <c>buf_alloc</c>: bytes of guest-to-host data the device buffers per connection
    /// (what the host stream has not taken yet). 1 to <see cref="MaxBufAlloc"/>; default 256 KiB.</summary>
    public uint BufAlloc
    {
        get => bufAlloc;
        init
        {
            ArgumentOutOfRangeException.ThrowIfZero(value);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, MaxBufAlloc);
            bufAlloc = value;
        }
    }

    /// <summary>How long a closing connection waits for the guest's RST (or for its buffered data to
    /// reach the host) before it resets; default 2000 ms, at least 0.</summary>
    public long CloseTimeoutMs
    {
        get => closeTimeoutMs;
        init
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            closeTimeoutMs = value;
        }
    }

    /// <summary>How long a host-initiated connection waits for the guest's RESPONSE; default 5000 ms,
    /// at least 0.</summary>
    public long ConnectTimeoutMs
    {
        get => connectTimeoutMs;
        init
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            connectTimeoutMs = value;
        }
    }

    /// <summary>When the guest's view of our free space falls below this, and our real free space is
    /// at least this, a CREDIT_UPDATE becomes due on its own: min(64 KiB, <see cref="BufAlloc"/> / 2),
    /// at least 1.</summary>
    public uint CreditUpdateThreshold => Math.Max(1u, Math.Min(64u * 1024, bufAlloc / 2));
}
