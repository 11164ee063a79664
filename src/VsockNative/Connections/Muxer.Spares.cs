using VsockNative.Endpoints;
using VsockNative.Protocol;
using VsockNative.Wire;

namespace VsockNative.Connections;

// What a freed connection leaves behind (its Connection, FdStream and table entry) is kept, up to a
// bound, and made new for the next connection: opening and closing connections allocates nothing
// once warm. Nothing of a previous connection reaches the next: each object is reset field by field
// when it is taken (Connection.Init, FdStream.Reopen, Entry.Open).
internal sealed partial class Muxer
{
    /// <summary>Spares kept of each kind (a freed connection's objects beyond it are left to the GC).</summary>
    private const int SpareLimit = 64;

    private readonly SparePool<Entry> _spareEntries = new(SpareLimit);
    private readonly SparePool<Connection> _spareConnections = new(SpareLimit);
    private readonly SparePool<FdStream> _spareStreams = new(SpareLimit);
    /// <summary>Calls into the program made (accept, route): they come back through DeferredCall.Release.</summary>
    private readonly SparePool<DeferredCall> _spareCalls = new(SpareLimit);

    /// <summary>"&lt;uds_path&gt;_" as UTF-8 (a guest REQUEST to port P connects to "&lt;uds_path&gt;_P"); null without uds_path.</summary>
    private readonly byte[]? _udsPortPrefix;

    /// <summary>The host stream over a connected fd (a SEQPACKET one sized by <see cref="RoomForMessages"/>;
    /// <paramref name="framed"/>: a link to a sibling device, whose messages carry their flags;
    /// <paramref name="pending"/>: bytes a handshake already read), a spare one when there is one.</summary>
    private FdStream NewStream(int fd, VirtioVsockType type, bool framed = false, byte[]? pending = null)
    {
        if (type == VirtioVsockType.Seqpacket) RoomForMessages(fd);
        framed = framed && type == VirtioVsockType.Seqpacket;
        if (_spareStreams.Take() is not { } stream) return new FdStream(fd, _poll, pending) { FramedRecords = framed };
        stream.Reopen(fd, pending, framed);
        return stream;
    }

    /// <summary>The guest's REQUEST accepted over <paramref name="host"/>: a RESPONSE is owed.</summary>
    private Connection Accepted(ConnKey key, in PacketHeader request, IHostStream host, long nowMs) =>
        Connection.AcceptFromGuest(key, request, host, _options.Limits, nowMs, 0, _spareConnections.Take());

    /// <summary>A host-initiated connection over a socket or a link: a REQUEST owed to this guest.</summary>
    private Connection NewHostInitiated(ConnKey key, VirtioVsockType type, IHostMessageStream host, long nowMs) =>
        Connection.ConnectToGuest(key, host, _options.Limits, nowMs, 0,
            type == VirtioVsockType.Seqpacket ? VirtioVsockType.Seqpacket : VirtioVsockType.Stream, _spareConnections.Take());

    /// <summary>Keeps a freed connection's objects for the next one, when nothing refers to them any more:
    /// not while the entry waits in the rx ready queue, the link queue or the registrations due (each
    /// skips it as removed, and the last to let go recycles it),
    /// and never over a link (the link end may still name its owner). Its timer heap entry may stay:
    /// see <see cref="Entry.Open"/>.</summary>
    private void Recycle(Entry entry)
    {
        if (entry.InReadyQueue || entry.LinkDue || entry.RegisterDue || entry.Link is not null || !entry.Connection.IsDone) return;
        _spareConnections.Give(entry.Connection);
        if (entry.Fd is { } stream) _spareStreams.Give(stream);
        _spareEntries.Give(entry);
    }
}
