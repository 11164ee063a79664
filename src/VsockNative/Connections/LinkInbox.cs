using System;
using System.Threading;
using VsockNative.EventLoop;

namespace VsockNative.Connections;

/// <summary>
/// The link ends of one device that another thread signalled (bytes added, room freed, a shutdown,
/// a close, the target's acceptance), waiting for that device's loop: a lock-free intrusive stack,
/// pushed by any thread (<see cref="Post"/>, a compare-and-swap on the head), taken whole by the
/// owner (<see cref="TakeAll"/>, one exchange). Only pushes and take-all, so no ABA: a pushed end
/// links to whatever head it replaced. An end is in at most one list at a time: its signalled flag
/// (<see cref="LinkEnd.Signal"/>) admits one post until the owner clears it, and the owner reads
/// <see cref="LinkEnd.NextSignalled"/> before clearing it.
/// <para>The loop is woken only when the stack goes from empty to not empty: the post that finds it
/// empty wakes; later ones ride along. The wake is made under a small lock of its own (a leaf: held
/// for one eventfd write), so it never reaches a loop whose eventfd <see cref="Dispose"/> let go.</para>
/// </summary>
internal sealed class LinkInbox : IDisposable
{
    private readonly IPollRegistry _loop;
    private readonly object _wakeGate = new();
    private bool _disposed;
    private LinkEnd? _head;

    public LinkInbox(IPollRegistry loop) => _loop = loop;

    /// <summary>Adds a signalled end (any thread) and wakes the owner's loop if it was empty.</summary>
    public void Post(LinkEnd end)
    {
        LinkEnd? head;
        do
        {
            head = Volatile.Read(ref _head);
            end.NextSignalled = head;
        }
        while (Interlocked.CompareExchange(ref _head, end, head) != head);  // publishes NextSignalled too
        if (head is not null) return;
        lock (_wakeGate)
            if (!_disposed) _loop.Wake();
    }

    /// <summary>Takes every posted end, newest first (owner); null when none.</summary>
    public LinkEnd? TakeAll() => Volatile.Read(ref _head) is null ? null : Interlocked.Exchange(ref _head, null);

    /// <summary>The owner's loop is going away: no more wake-ups.</summary>
    public void Dispose()
    {
        lock (_wakeGate) _disposed = true;
    }
}
