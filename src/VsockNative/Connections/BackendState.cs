using System;
using VsockNative.Endpoints;

namespace VsockNative.Connections;

/// <summary>What a device snapshot keeps of its backend: where each host-port allocator continues
/// (stream/seqpacket connections, datagram bindings), and the fd-API listeners as (port, type) pairs,
/// listed for the embedding program (their callbacks belong to it: a restore does not install them).
/// Open connections and host sockets are never part of it.</summary>
internal readonly record struct BackendState(uint StreamPortNext, uint DatagramPortNext, (uint Port, uint Type)[] Listeners)
{
    /// <summary>A backend that has allocated nothing and listens on nothing.</summary>
    public static BackendState Fresh => new(HostPortAllocator.First, HostPortAllocator.First, Array.Empty<(uint, uint)>());
}
