using System;
using VsockNative.Protocol;

namespace VsockNative.Connections;

internal sealed partial class Muxer
{
    /// <summary>Writes a snapshot of up to <c>destination.Length</c> connections, in no particular
    /// order, and returns how many connections there are in all.</summary>
    public int Snapshot(Span<ConnectionInfo> destination)
    {
        int i = 0;
        foreach (var entry in _byKey.Values)
        {
            if (i == destination.Length) break;
            var info = entry.Connection.Snapshot(entry.OpenedByHost);
            if (entry.Link is not null) info.Flags |= ConnectionInfoFlags.DirectLink;
            destination[i++] = info;
        }
        return _byKey.Count;
    }
}
