namespace VsockNative.Protocol;

/// <summary>Identity of one connection: the host end (cid, port) and the guest end (cid, port).</summary>
/// <param name="HostCid">CID of the host end (the device side, usually 2).</param>
/// <param name="HostPort">Port of the host end.</param>
/// <param name="GuestCid">The guest's CID.</param>
/// <param name="GuestPort">Port of the guest end.</param>
public readonly record struct ConnKey(ulong HostCid, uint HostPort, ulong GuestCid, uint GuestPort);
