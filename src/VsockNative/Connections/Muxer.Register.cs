using System.Collections.Generic;
using VsockNative.Interop.Native;

namespace VsockNative.Connections;

// A guest-initiated connection wants nothing of its host fd until its RESPONSE is out, and that is
// usually later in the same loop turn (the rx queue is filled after the tx queue): its fd is
// registered then with the interest it has by that time (one epoll_ctl ADD), or, if the RESPONSE is
// still owed, with none before the loop waits, so epoll reports a hangup exactly as before (one ADD
// and one MOD per connection was the cost). Accepting connections are only made inside a turn (a
// guest packet, an fd event), which BeforeWait ends.
internal sealed partial class Muxer
{
    private readonly List<Entry> _registerDue = new();

    private void RegisterBeforeWait(Entry entry)
    {
        if (entry.RegisterDue) return;
        entry.RegisterDue = true;
        _registerDue.Add(entry);
    }

    /// <summary>The loop is about to wait: every fd whose registration was put off is registered (with
    /// the interest its connection has now); an entry freed meanwhile is recycled.</summary>
    public void BeforeWait()
    {
        if (_registerDue.Count == 0) return;
        foreach (var entry in _registerDue)
        {
            entry.RegisterDue = false;
            if (entry.Removed) Recycle(entry);
            else if (entry.Fd is { Registered: false } fd && _poll.Add(fd.Fd, PollTag.Make(PollTag.Connection, entry.Id), entry.Interest) == 0)
                fd.Registered = true;
        }
        _registerDue.Clear();
    }
}
