using System;
using System.Collections.Generic;
using System.Threading;
using VsockNative.Interop.Native;

namespace VsockNative.EventLoop;

/// <summary>A call into the embedding program decided while the owner's lock was held, made after it
/// was released (so the program may call back into any device without deadlock).</summary>
internal interface IDeferredCall
{
    void Invoke();

    /// <summary>Called after <see cref="Invoke"/>, under the owner's lock again: a pooled call goes
    /// back to its pool.</summary>
    void Release() { }
}

/// <summary>Where calls are queued for after the owner's lock is released (the loop).</summary>
internal interface IDeferredSink
{
    void Defer(IDeferredCall call);
}

/// <summary>
/// One device's event loop: an epoll instance whose events carry 64-bit tags, a wake eventfd (tag
/// <see cref="WakeTag"/>) that other threads signal, the thread that runs the loop (or none: the
/// host polls), and the calls deferred until the owner's lock is released. Interest is
/// level-triggered and changed only when it changes (the owners cache it). An idle loop sleeps
/// in epoll_wait until an fd, the wake fd or the owner's next deadline wakes it.
/// </summary>
internal sealed class Loop : IPollRegistry, IDeferredSink, IDisposable
{
    /// <summary>The tag of the wake eventfd.</summary>
    public const ulong WakeTag = ulong.MaxValue;
    private const int Capacity = 64;

    private readonly Epoll _epoll;
    private readonly int _wakeFd;
    private readonly ulong[] _tags = new ulong[Capacity];
    private readonly uint[] _events = new uint[Capacity];
    private List<IDeferredCall> _deferred = new();
    /// <summary>The list of the calls made last, kept for the next turn's (null while the calls are made).</summary>
    private List<IDeferredCall>? _spareDeferred = new();
    private Thread? _thread;

    private Loop(Epoll epoll, int wakeFd)
    {
        _epoll = epoll;
        _wakeFd = wakeFd;
    }

    /// <summary>Creates the epoll instance and the wake eventfd; 0 or -errno.</summary>
    public static int Create(out Loop? loop)
    {
        loop = null;
        int rc = Epoll.Create(Capacity, out var epoll);
        if (rc < 0) return rc;
        int wake = EventFd.Create();
        if (wake < 0 || (rc = epoll!.Add(wake, WakeTag)) < 0)
        {
            if (wake >= 0) Libc.Close(wake);
            epoll!.Dispose();
            return wake < 0 ? wake : rc;
        }
        loop = new Loop(epoll, wake);
        return 0;
    }

    public int Add(int fd, ulong tag, uint events) => _epoll.Add(fd, tag, events);
    public int Modify(int fd, ulong tag, uint events) => _epoll.Modify(fd, tag, events);
    public int Remove(int fd) => _epoll.Remove(fd);

    /// <summary>Wakes the loop (any thread).</summary>
    public void Wake() => EventFd.Signal(_wakeFd);

    /// <summary>Waits up to <paramref name="timeoutMs"/> (-1: until something happens); returns how many
    /// events are ready (read them with <see cref="Tag"/> and <see cref="Events"/>), or -errno.</summary>
    public int Wait(int timeoutMs) => _epoll.Wait(_tags, _events, timeoutMs);

    public ulong Tag(int i) => _tags[i];
    public uint Events(int i) => _events[i];

    /// <summary>Clears the wake eventfd if it is among the first <paramref name="n"/> events.</summary>
    public void DrainWake(int n)
    {
        for (int i = 0; i < n; i++)
            if (_tags[i] == WakeTag) EventFd.Drain(_wakeFd);
    }

    /// <summary>Runs <paramref name="body"/> on the loop's own thread.</summary>
    public void StartThread(string name, ThreadStart body)
    {
        _thread = new Thread(body) { IsBackground = true, Name = name };
        _thread.Start();
    }

    /// <summary>Whether the caller is the loop's own thread.</summary>
    public bool OnLoopThread => Thread.CurrentThread == _thread;

    /// <summary>Forgets the thread (it is ending) and returns it for joining, unless it is the caller.</summary>
    public Thread? DetachThread()
    {
        var thread = _thread;
        _thread = null;
        return thread == Thread.CurrentThread ? null : thread;
    }

    /// <summary>Queues a call for after the owner's lock is released (call under that lock).</summary>
    public void Defer(IDeferredCall call) => _deferred.Add(call);

    /// <summary>Takes the queued calls (under the owner's lock); null when there are none. Hand the
    /// list back with <see cref="Made"/> once the calls are made (no list is allocated per turn).</summary>
    public List<IDeferredCall>? TakeDeferred()
    {
        if (_deferred.Count == 0) return null;
        var calls = _deferred;
        _deferred = _spareDeferred ?? new List<IDeferredCall>();  // a call made meanwhile queues there
        _spareDeferred = null;
        return calls;
    }

    /// <summary>The calls <see cref="TakeDeferred"/> gave were made (under the owner's lock again): each
    /// is released and the list kept for a later turn.</summary>
    public void Made(List<IDeferredCall> calls)
    {
        foreach (var call in calls) call.Release();
        calls.Clear();
        _spareDeferred = calls;
    }

    public void Dispose()
    {
        _epoll.Dispose();
        Libc.Close(_wakeFd);
    }
}
