using System;

namespace VsockNative.Endpoints;

/// <summary>Host-side ports for connections the host opens towards the guest: taken in turn from
/// [2^30, 2^31) as Firecracker does, skipping ports still in use, so a port is not reused while a
/// connection (or its close) may still carry it.</summary>
internal sealed class HostPortAllocator
{
    public const uint First = 1u << 30;
    public const uint End = 1u << 31;
    private uint _next;

    /// <summary>A new allocator; <paramref name="next"/> (tests) is the first port it tries.</summary>
    public HostPortAllocator(uint next = First)
    {
        if (next < First || next >= End) throw new ArgumentOutOfRangeException(nameof(next));
        _next = next;
    }

    /// <summary>The port the next allocation tries first (a snapshot carries it, so a restored device
    /// does not hand out again the ports of connections the guest may still remember).</summary>
    public uint Next => _next;

    /// <summary>Continues from a saved <see cref="Next"/>; false (nothing changed) outside the range.</summary>
    public bool TrySetNext(uint next)
    {
        if (next < First || next >= End) return false;
        _next = next;
        return true;
    }

    /// <summary>The next free port, or false when every port of the range is in use.</summary>
    public bool TryAllocate(Func<uint, bool> inUse, out uint port) => TryAllocate(inUse, static (f, p) => f(p), out port);

    /// <summary>As <see cref="TryAllocate(Func{uint, bool}, out uint)"/>, with the state
    /// <paramref name="inUse"/> needs passed in (a static lambda: no closure allocated per call).</summary>
    public bool TryAllocate<TState>(TState state, Func<TState, uint, bool> inUse, out uint port)
    {
        for (uint tries = 0; tries < End - First; tries++)
        {
            port = _next;
            _next = _next + 1 == End ? First : _next + 1;
            if (!inUse(state, port)) return true;
        }
        port = 0;
        return false;
    }
}
