using System;
using System.Collections.Generic;

namespace VsockNative.Connections;

/// <summary>
/// Host datagrams waiting for guest rx buffers: one byte ring allocated once, each datagram stored
/// contiguously (a datagram that does not fit before the end of the ring starts again at its
/// beginning), oldest first. Bounded in bytes and in records (so empty datagrams cannot grow the
/// record list). Nothing is allocated per datagram; the ring itself is allocated by the first
/// datagram that waits (a device whose guest never receives datagrams never holds it).
/// </summary>
internal sealed class DatagramQueue
{
    /// <summary>One waiting datagram: where its payload lies in the ring, and its ports.</summary>
    public readonly record struct Record(int Offset, int Length, uint SrcPort, uint DstPort);

    private readonly int _capacity;
    private byte[]? _ring;
    private readonly Queue<Record> _records;
    private readonly int _maxRecords;
    private int _head;      // offset of the oldest record
    private int _tail;      // end of the newest record
    private bool _wrapped;  // the newest records start again at 0, before _head

    public DatagramQueue(int bytes, int maxRecords)
    {
        _capacity = bytes;
        _maxRecords = maxRecords;
        _records = new Queue<Record>(maxRecords);
    }

    public int Count => _records.Count;
    public bool IsEmpty => _records.Count == 0;

    /// <summary>Whether a datagram of <paramref name="length"/> bytes would fit now.</summary>
    public bool CanAccept(int length) => Place(length) >= 0;

    /// <summary>Copies a datagram in; false (nothing changed) when it does not fit.</summary>
    public bool TryEnqueue(uint srcPort, uint dstPort, ReadOnlySpan<byte> payload)
    {
        int offset = Place(payload.Length);
        if (offset < 0) return false;
        if (_records.Count == 0)
        {
            _head = 0;
            _wrapped = false;
        }
        else if (offset < _tail || (offset == 0 && _tail > 0))
        {
            _wrapped = true;
        }
        _ring ??= new byte[_capacity];
        payload.CopyTo(_ring.AsSpan(offset));
        _tail = offset + payload.Length;
        _records.Enqueue(new Record(offset, payload.Length, srcPort, dstPort));
        return true;
    }

    public Record Peek() => _records.Peek();

    /// <summary>The payload of a record (valid until it is dequeued).</summary>
    public ReadOnlySpan<byte> Payload(in Record r) => _ring!.AsSpan(r.Offset, r.Length);  // a record exists: so does the ring

    public void Dequeue()
    {
        var old = _records.Dequeue();
        if (_records.Count == 0)
        {
            _head = _tail = 0;
            _wrapped = false;
            return;
        }
        _head = _records.Peek().Offset;
        if (_head < old.Offset) _wrapped = false;  // the oldest record is now the one that wrapped
    }

    public void Clear()
    {
        _records.Clear();
        _head = _tail = 0;
        _wrapped = false;
    }

    /// <summary>Where a datagram of this length would go, or -1.</summary>
    private int Place(int length)
    {
        if (_records.Count >= _maxRecords || length > _capacity) return -1;
        if (_records.Count == 0) return 0;
        if (_wrapped) return _head - _tail >= length ? _tail : -1;
        if (_capacity - _tail >= length) return _tail;
        return _head >= length ? 0 : -1;
    }
}
