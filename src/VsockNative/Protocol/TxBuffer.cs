using System;
using VsockNative.Wire;

namespace VsockNative.Protocol;

/// <summary>
/// The bounded buffer of guest-to-host bytes the host stream has not taken yet: a ring of at most
/// <c>buf_alloc</c> bytes. The array is rented from the shared pool only when the host first
/// refuses bytes and returned as soon as the ring is empty, so an idle connection holds nothing and
/// steady-state transfer allocates nothing. While rented it is pinned, so it can be handed to the
/// host stream as IoVecs.
/// </summary>
internal sealed class TxBuffer
{
    private int capacity;
    private readonly PinnedRental rental = new();
    private int head;
    private int count;

    public TxBuffer(uint capacity)
    {
        this.capacity = checked((int)capacity);
    }

    /// <summary>Empties the ring (its array goes back to the pool) and sets its capacity: the buffer of a
    /// recycled connection.</summary>
    public void Reset(uint capacity)
    {
        Clear();
        this.capacity = checked((int)capacity);
    }

    /// <summary>Bytes waiting for the host.</summary>
    public int Count => count;

    public bool IsEmpty => count == 0;

    /// <summary>Bytes that still fit.</summary>
    public int Free => capacity - count;

    /// <summary>Whether an array is currently rented (for tests).</summary>
    public bool HoldsArray => rental.Array is not null;

    /// <summary>Copies <paramref name="length"/> bytes of <paramref name="source"/>, starting at
    /// <paramref name="offset"/>, to the end of the ring. The caller guarantees they fit (credit).</summary>
    public void Append(ReadOnlySpan<IoVec> source, int offset, int length)
    {
        if (length > Free)
            ThrowOverflow();
        if (length == 0)
            return;
        if (rental.Array is null)
            rental.Rent(capacity);
        byte[] array = rental.Array!;

        int tail = (head + count) % capacity;
        int first = Math.Min(length, capacity - tail);
        ScatterIo.Gather(source, offset, array.AsSpan(tail, first));
        if (length > first)
            ScatterIo.Gather(source, offset + first, array.AsSpan(0, length - first));
        count += length;
    }

    /// <summary>Offers everything buffered to the host in one writev. Returns the host's answer;
    /// bytes it took leave the ring.</summary>
    public long WriteTo(IHostStream host)
    {
        if (count == 0)
            return 0;
        Span<IoVec> vecs = stackalloc IoVec[2];
        int first = Math.Min(count, capacity - head);
        vecs[0] = new IoVec(rental.Address + head, (nuint)first);
        int n = 1;
        if (count > first)
            vecs[n++] = new IoVec(rental.Address, (nuint)(count - first));

        long written = host.Write(vecs[..n]);
        if (written > 0)
            Consume((int)Math.Min(written, count));
        return written;
    }

    /// <summary>Offers the oldest <paramref name="length"/> bytes to the host as one message (one
    /// sendmsg); they leave the ring only when the host took the whole message.</summary>
    public long WriteMessageTo(IHostMessageStream host, int length, bool eor)
    {
        Span<IoVec> vecs = stackalloc IoVec[2];
        int first = Math.Min(length, capacity - head);
        int n = 0;
        if (length > 0)
            vecs[n++] = new IoVec(rental.Address + head, (nuint)first);
        if (length > first)
            vecs[n++] = new IoVec(rental.Address, (nuint)(length - first));

        long written = host.SendMessage(vecs[..n], eor);
        if (written == length)
            Consume(length);
        return written;
    }

    /// <summary>Forgets the newest <paramref name="n"/> bytes (a message that will never be complete).</summary>
    public void Truncate(int n)
    {
        count -= Math.Min(n, count);
        if (count == 0)
        {
            head = 0;
            Return();
        }
    }

    /// <summary>Forgets everything buffered and returns the array. Returns the bytes forgotten.</summary>
    public int Clear()
    {
        int dropped = count;
        head = 0;
        count = 0;
        Return();
        return dropped;
    }

    private void Consume(int n)
    {
        head = (head + n) % capacity;
        count -= n;
        if (count == 0)
        {
            head = 0;
            Return();
        }
    }

    private void Return() => rental.Return();

    private static void ThrowOverflow() =>
        throw new InvalidOperationException("tx buffer overflow: credit accounting is broken");
}
