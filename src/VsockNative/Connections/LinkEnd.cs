using System;
using System.Threading;
using VsockNative.Diagnostics;
using VsockNative.Interop.Native;
using VsockNative.EventLoop;
using VsockNative.Interop;
using VsockNative.Protocol;
using VsockNative.Wire;

namespace VsockNative.Connections;

/// <summary>
/// One device's end of a sibling link, as its connection sees it: the connection's host stream
/// (<see cref="IHostMessageStream"/>) over the link's two pipes, with the semantics of one end of an
/// AF_UNIX socketpair (write: taken, would block, or EPIPE once the peer stopped reading; read: bytes,
/// would block, or 0 at the peer's end of stream), and readiness without an fd: the owner says what
/// it wants to hear of (<see cref="Watch"/>), the peer signals this end when that may have happened
/// (<see cref="Signal"/>: the end joins its owner's <see cref="LinkInbox"/>, whose loop is woken), and
/// the owner asks for the level (<see cref="Poll"/>), as epoll would report it. Writability is wanted
/// with an amount (<c>_roomWanted</c>): the room a refused write needs, or the room at which the
/// owner's connection owes its guest a CREDIT_UPDATE; the reader signals once its reads bring the room
/// there, not at every byte it takes.
/// <para>Only the owner's device calls the stream methods, under its lock; the peer's device reads
/// the flags below and calls <see cref="Signal"/> from its own thread. Flags an owner sets and its
/// peer reads (<c>_shutRead</c>, <c>_shutWrite</c>, <c>_closed</c>, <c>_accepted</c>) are stored with
/// Volatile.Write after what they announce (the last bytes, for <c>_shutWrite</c>) and read with
/// Volatile.Read before the data they guard (a reader looks at "no more" first, then at the pipe, so
/// it never takes an end of stream for an empty pipe that still had bytes coming).</para>
/// <para>No lost wake-ups: the owner stores the room it wants and its interest, makes a full fence,
/// then looks at the level; a peer changes the pipe, makes a full fence, then reads that interest (and
/// room) and signals when it matches. Whichever goes second sees the other's stores (the two fences
/// pair up).</para>
/// </summary>
internal sealed class LinkEnd : IHostMessageStream, IHostMessagePieces, IHostStreamBacklog
{
    /// <summary>Level bits, as epoll reports them.</summary>
    public const uint In = Libc.EPOLLIN;
    public const uint Out = Libc.EPOLLOUT;
    public const uint Hangup = Libc.EPOLLHUP;

    private readonly SiblingLink _link;
    private readonly bool _origin;
    private int _shutRead;
    private int _shutWrite;
    private int _closed;
    private int _accepted;
    /// <summary>What the owner wants to hear of (In, Out): stored by the owner, read by the peer.</summary>
    private int _interest;
    /// <summary>1 while this end waits in its owner's inbox (set by whoever signals, cleared by the owner).</summary>
    private int _signalled;
    /// <summary>Bytes a refused write needs before the pipe is writable again (owner only; 0: not blocked).</summary>
    private long _need;
    /// <summary>With Out: the room in the outgoing pipe the owner waits for; stored by the owner, read by the peer.</summary>
    private long _roomWanted = 1;
    /// <summary>What <see cref="Watch"/> published last (owner only).</summary>
    private uint _watched;
    private long _watchedRoom = 1;

    public LinkEnd(SiblingLink link, bool origin, LinkInbox inbox)
    {
        _link = link;
        _origin = origin;
        Inbox = inbox;
    }

    /// <summary>The inbox of the device that owns this end.</summary>
    public LinkInbox Inbox { get; }

    /// <summary>The next end in the inbox's list (the inbox's own field).</summary>
    internal LinkEnd? NextSignalled;

    /// <summary>What the owning muxer keeps for this end (a pending route or a connection); owner only.</summary>
    public object? Owner { get; set; }

    public SiblingLink Link => _link;

    /// <summary>This end was closed (by its owner).</summary>
    public bool Closed => Volatile.Read(ref _closed) != 0;

    /// <summary>The target's guest accepted (set by the target end's owner).</summary>
    public bool Accepted => Volatile.Read(ref _accepted) != 0;

    private LinkEnd? Peer => _origin ? _link.Target : _link.Origin;
    private LinkPipe Outgoing => (_origin ? _link.ToTarget : _link.ToOrigin)!;
    private LinkPipe Incoming => (_origin ? _link.ToOrigin : _link.ToTarget)!;

    /// <summary>The peer will send no more: it shut its write side or closed.</summary>
    private bool PeerSendsNoMore => Peer is { } p && (Volatile.Read(ref p._shutWrite) | Volatile.Read(ref p._closed)) != 0;

    /// <summary>The peer takes no more: it shut its read side or closed.</summary>
    private bool PeerStopsReading => Peer is { } p && (Volatile.Read(ref p._shutRead) | Volatile.Read(ref p._closed)) != 0;

    public uint Backlog => Closed || PeerStopsReading ? 0 : (uint)Outgoing.Unconsumed;

    // ---- The host stream ----

    public long Write(ReadOnlySpan<IoVec> data)
    {
        long refused = CannotWrite();
        if (refused != 0) return refused;
        int n = Outgoing.Write(data);
        _need = (ulong)n < ScatterIo.TotalLength(data) ? 1 : 0;
        if (n == 0) return HostStreamResult.WouldBlock;
        PeerMay(In);
        return n;
    }

    public long Read(ReadOnlySpan<IoVec> into)
    {
        if (Closed) return -Errno.EBADF;
        bool ended = PeerSendsNoMore;  // before the pipe: bytes written before the end are there
        int n = Incoming.Read(into);
        if (n > 0)
        {
            PeerMay(Out);
            return n;
        }
        return ended ? 0 : HostStreamResult.WouldBlock;
    }

    public long SendMessage(ReadOnlySpan<IoVec> data, bool endOfRecord)
    {
        long refused = CannotWrite();
        if (refused != 0) return refused;
        ulong length = ScatterIo.TotalLength(data);
        if (length > (ulong)Outgoing.Capacity) return -Errno.EMSGSIZE;
        if (!Outgoing.TryWriteMessage(data, (int)length, endOfRecord))
        {
            _need = (long)length;
            return HostStreamResult.WouldBlock;
        }
        _need = 0;
        PeerMay(In);
        return (long)length;
    }

    public long PeekMessage()
    {
        if (Closed) return -Errno.EBADF;
        bool ended = PeerSendsNoMore;
        long length = Incoming.PeekMessage();
        return length >= 0 ? length : ended ? HostStreamResult.EndOfStream : HostStreamResult.WouldBlock;
    }

    public long ReceiveMessage(ReadOnlySpan<IoVec> into, out bool endOfRecord)
    {
        endOfRecord = false;
        if (Closed) return -Errno.EBADF;
        bool ended = PeerSendsNoMore;
        long length = Incoming.ReadMessage(into, out endOfRecord);
        if (length >= 0)
        {
            PeerMay(Out);
            return length;
        }
        return ended ? HostStreamResult.EndOfStream : HostStreamResult.WouldBlock;
    }

    public long ReceivePiece(ReadOnlySpan<IoVec> into, out bool endOfMessage, out bool endOfRecord)
    {
        endOfMessage = endOfRecord = false;
        if (Closed) return -Errno.EBADF;
        bool ended = PeerSendsNoMore;
        long n = Incoming.ReadPiece(into, out endOfMessage, out endOfRecord);
        if (n >= 0)
        {
            if (n > 0 || endOfMessage) PeerMay(Out);
            return n;
        }
        return ended ? HostStreamResult.EndOfStream : HostStreamResult.WouldBlock;
    }

    public int Shutdown(bool read, bool write)
    {
        if (Closed) return -Errno.EBADF;
        if (read) Volatile.Write(ref _shutRead, 1);
        if (write) Volatile.Write(ref _shutWrite, 1);
        if (read || write) Peer?.Signal();
        return 0;
    }

    /// <summary>Lets go of the link: the peer reads the end of stream and its writes fail; the link is
    /// freed once both ends closed. Idempotent.</summary>
    public void Close()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0) return;
        Owner = null;
        _link.OnClosed(this);
    }

    /// <summary>The target's guest accepted: the origin answers its own guest with RESPONSE.</summary>
    public void Accept()
    {
        Volatile.Write(ref _accepted, 1);
        Peer?.Signal();
    }

    private long CannotWrite() =>
        Closed ? -Errno.EBADF : Volatile.Read(ref _shutWrite) != 0 || PeerStopsReading ? -Errno.EPIPE : 0;

    // ---- Readiness ----

    /// <summary>The owner wants to hear of <paramref name="events"/> (In, Out); with Out, of the room its
    /// refused write needs, or of the backlog falling to <paramref name="backlogAtMost"/> (uint.MaxValue:
    /// any room). False when that is what it watches already; else true with the level now
    /// (<see cref="Poll"/>), looked at after the interest was published.</summary>
    public bool Watch(uint events, uint backlogAtMost, out uint level)
    {
        level = 0;
        long room = _need > 0 ? _need : long.MaxValue;
        if (backlogAtMost != uint.MaxValue) room = Math.Min(room, Outgoing.Capacity - Math.Min(backlogAtMost, (uint)Outgoing.Capacity));
        if (room == long.MaxValue) room = 1;
        if (events == _watched && room == _watchedRoom) return false;
        _watched = events;
        _watchedRoom = room;
        Volatile.Write(ref _roomWanted, room);
        Interlocked.Exchange(ref _interest, (int)events);  // full fence: pairs with the one in PeerMay
        level = Poll();
        return true;
    }

    /// <summary>What epoll would report for this end now: In (bytes or a message to read, or the
    /// peer's end of stream), Out (a write would be taken, or fail at once), Hangup (the peer shut
    /// both directions or closed). Owner only.</summary>
    public uint Poll()
    {
        if (Closed) return 0;
        bool noMore = PeerSendsNoMore, stops = PeerStopsReading;
        uint level = 0;
        if (noMore || Incoming.HasData) level |= In;
        if (stops || Volatile.Read(ref _shutWrite) != 0 || Outgoing.Fits(_roomWanted)) level |= Out;
        if (noMore && stops) level |= Hangup;
        return level;
    }

    /// <summary>Something this end's owner may want to look at happened: the end joins its owner's inbox
    /// once, however often it is signalled before the owner looks (any thread).</summary>
    public void Signal()
    {
        if (Interlocked.Exchange(ref _signalled, 1) == 0) Inbox.Post(this);
    }

    /// <summary>The owner took this end from its inbox: later signals post it again. A full fence, so the
    /// owner's look at the pipes after it sees everything published before a signal it cleared.</summary>
    public void ClearSignal() => Interlocked.Exchange(ref _signalled, 0);

    /// <summary>After a change to the pipes: signal the peer when it wants to hear of <paramref name="event"/>
    /// (Out: once the room it waits for is there).</summary>
    private void PeerMay(uint @event)
    {
        Interlocked.MemoryBarrier();  // the pipe's new position before the peer's interest: pairs with Watch
        if (Peer is not { } p || ((uint)Volatile.Read(ref p._interest) & @event) == 0) return;
        if (@event == Out && Incoming.RoomSeenByReader < Volatile.Read(ref p._roomWanted)) return;
        p.Signal();
    }
}
