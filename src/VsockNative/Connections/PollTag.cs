namespace VsockNative.Connections;

/// <summary>Tags of the connection layer's fds: kind in the top byte, an id below.</summary>
internal static class PollTag
{
    public const ulong Listener = 1;
    public const ulong Handshake = 2;
    public const ulong Connection = 3;
    public const ulong Datagram = 4;
    public const ulong Route = 5;

    public static ulong Make(ulong kind, uint id) => (kind << 56) | id;
    public static ulong Kind(ulong tag) => tag >> 56;
    public static uint Id(ulong tag) => (uint)tag;
}
