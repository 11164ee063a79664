using System.Collections.Generic;
using VsockNative.Wire;

namespace VsockNative.Connections;

/// <summary>
/// The sibling links of this process that no target has claimed yet, by the cookie (SO_COOKIE) of
/// the socketpair end the origin device handed to the router. A cookie names one socket for as long
/// as the system runs (an fd number or an inode could be reused), so an fd that
/// <c>vsn_connect_from</c> receives is the other end of a pair made by a device of this library
/// exactly when its cookie is filed here. One lock, taken briefly and never while taking another
/// (the devices call in under their own lock: it is a leaf).
/// </summary>
internal static class LinkRegistry
{
    private static readonly object s_gate = new();
    private static readonly Dictionary<ulong, SiblingLink> s_links = new();

    public static void Add(SiblingLink link)
    {
        lock (s_gate) s_links[link.Cookie] = link;
    }

    /// <summary>Withdraws an unclaimed link; false when it was claimed (or withdrawn) before.</summary>
    public static bool Remove(SiblingLink link)
    {
        lock (s_gate)
            return s_links.TryGetValue(link.Cookie, out var filed) && filed == link && s_links.Remove(link.Cookie);
    }

    /// <summary>The target's end of the link filed under <paramref name="cookie"/>, claimed for the
    /// device whose inbox and buf_alloc are given; null when there is none of that type (the fd is not
    /// the other end of a pair made here: the caller uses it as a socket).</summary>
    public static LinkEnd? Claim(ulong cookie, VirtioVsockType type, LinkInbox inbox, uint bufAlloc)
    {
        lock (s_gate)
        {
            if (!s_links.TryGetValue(cookie, out var link) || link.Type != type) return null;
            s_links.Remove(cookie);
            return link.Claim(inbox, bufAlloc);
        }
    }

    /// <summary>Links waiting to be claimed (tests).</summary>
    public static int Count
    {
        get { lock (s_gate) return s_links.Count; }
    }
}
