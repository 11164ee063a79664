using System.Threading;
using VsockNative.Wire;

namespace VsockNative.Connections;

/// <summary>
/// A guest-to-guest connection between two devices of this process, carried device to device
/// without a socket (Protocol/BEHAVIOUR.md, "Sibling routing"). The origin device (whose guest sent
/// the REQUEST) creates it with its socketpair and files it in the <see cref="LinkRegistry"/> under
/// the cookie of the pair's end it hands to the router; when <c>vsn_connect_from</c> on a device of
/// this library receives that end, the target device claims the link: it allocates the two pipes
/// (<see cref="ToTarget"/> sized by the origin's buf_alloc, <see cref="ToOrigin"/> by its own: each
/// is written by a connection whose guest credit is bounded by that buf_alloc, so a write within
/// credit always fits) and its end (<see cref="Target"/>). The pair has then done its job.
/// <para>Both ends hold a reference; the pipes' arrays go back to the pool when the second one
/// closes (<see cref="OnClosed"/>). <see cref="Live"/> counts links not yet freed (tests check it
/// returns to where it was: no leak).</para>
/// <para>Publication: the claim runs under the registry's lock and stores the pipes before it stores
/// <see cref="Target"/> (Volatile.Write); the origin reads Target with Volatile.Read and touches the
/// pipes only after it saw the target's acceptance (a Volatile flag stored after the claim).</para>
/// </summary>
internal sealed class SiblingLink
{
    private static long s_live;
    private LinkEnd? _target;
    private int _references = 1;

    private SiblingLink(VirtioVsockType type, uint originBufAlloc, ulong cookie, LinkInbox originInbox)
    {
        Type = type;
        OriginBufAlloc = originBufAlloc;
        Cookie = cookie;
        Origin = new LinkEnd(this, origin: true, originInbox);
    }

    /// <summary>A new link for a routed REQUEST, filed in the registry under <paramref name="cookie"/>
    /// (the cookie of the pair end the router gets).</summary>
    public static SiblingLink Open(VirtioVsockType type, uint originBufAlloc, ulong cookie, LinkInbox originInbox)
    {
        var link = new SiblingLink(type, originBufAlloc, cookie, originInbox);
        Interlocked.Increment(ref s_live);
        LinkRegistry.Add(link);
        return link;
    }

    /// <summary>Links created and not yet freed, in this process.</summary>
    public static long Live => Interlocked.Read(ref s_live);

    public VirtioVsockType Type { get; }
    public uint OriginBufAlloc { get; }
    public ulong Cookie { get; }
    public LinkEnd Origin { get; }
    public LinkEnd? Target => Volatile.Read(ref _target);
    public LinkPipe? ToTarget { get; private set; }
    public LinkPipe? ToOrigin { get; private set; }

    /// <summary>A target device took the link (<see cref="LinkRegistry.Claim"/>, under its lock): the pipes
    /// and the target's end, published last.</summary>
    internal LinkEnd Claim(LinkInbox inbox, uint targetBufAlloc)
    {
        bool messages = Type == VirtioVsockType.Seqpacket;
        ToTarget = new LinkPipe((int)OriginBufAlloc, messages);
        ToOrigin = new LinkPipe((int)targetBufAlloc, messages);
        Interlocked.Increment(ref _references);
        var end = new LinkEnd(this, origin: false, inbox);
        Volatile.Write(ref _target, end);
        return end;
    }

    /// <summary>An end closed: the origin first withdraws the link from the registry (after that no
    /// target can claim it, so <see cref="Target"/> is final), the peer is told, and the last end
    /// frees the pipes.</summary>
    internal void OnClosed(LinkEnd end)
    {
        if (end == Origin) LinkRegistry.Remove(this);
        (end == Origin ? Target : Origin)?.Signal();
        if (Interlocked.Decrement(ref _references) != 0) return;
        ToTarget?.Return();
        ToOrigin?.Return();
        Interlocked.Decrement(ref s_live);
    }
}
