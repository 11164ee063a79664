using VsockNative.Wire;

namespace VsockNative.Connections;

/// <summary>Where a guest REQUEST to a sibling CID goes (the embedding program's router, handed down
/// by the interop layer): called on the event-loop thread outside the device's lock.</summary>
internal interface ISiblingRouter
{
    /// <summary>Whether this router can carry connections of <paramref name="type"/>.</summary>
    bool Takes(VirtioVsockType type);

    /// <summary>Hands <paramref name="fd"/> (one end of a socketpair of the matching socket type) to the
    /// target: 0 when it took it, else a negative errno (the device then closes fd and answers RST).</summary>
    int Route(VirtioVsockType type, ulong dstCid, uint dstPort, ulong srcCid, uint srcPort, int fd);
}
