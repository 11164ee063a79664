using System.Collections.Concurrent;
using System.Threading;

namespace VsockNative.Interop;

/// <summary>Maps the opaque handles given to C to managed objects. Handles are never reused, so a
/// stale or doubly destroyed handle is an unknown handle (-EBADF), never another object.</summary>
internal sealed class HandleTable<T> where T : class
{
    private readonly ConcurrentDictionary<nint, T> _items = new();
    private long _next = 0x1000;

    public nint Add(T item)
    {
        var handle = (nint)Interlocked.Add(ref _next, 16);
        _items[handle] = item;
        return handle;
    }

    public bool TryGet(nint handle, out T item)
    {
        if (_items.TryGetValue(handle, out var found)) { item = found; return true; }
        item = null!;
        return false;
    }

    public bool TryRemove(nint handle, out T item)
    {
        if (_items.TryRemove(handle, out var found)) { item = found; return true; }
        item = null!;
        return false;
    }

    public int Count => _items.Count;
}
