namespace VsockNative.Connections;

/// <summary>
/// A bounded stack of objects a freed connection left behind (its <see cref="Protocol.Connection"/>,
/// host stream, table entry), so opening the next connection allocates nothing. The owner puts an
/// object back only when nothing refers to it any more and resets it completely when it takes it
/// again; beyond the bound an object is left to the garbage collector. Single-threaded (the event loop).
/// </summary>
internal sealed class SparePool<T> where T : class
{
    private readonly T?[] _items;
    private int _count;

    public SparePool(int capacity) => _items = new T?[capacity];

    /// <summary>Objects kept now.</summary>
    public int Count => _count;

    /// <summary>A kept object (the newest), or null when none is.</summary>
    public T? Take()
    {
        if (_count == 0) return null;
        var item = _items[--_count];
        _items[_count] = null;
        return item;
    }

    /// <summary>Keeps <paramref name="item"/> for reuse, unless the pool is full.</summary>
    public void Give(T item)
    {
        if (_count < _items.Length) _items[_count++] = item;
    }

    /// <summary>Forgets every kept object.</summary>
    public void Clear()
    {
        while (_count > 0) _items[--_count] = null;
    }
}
