using System;
using VsockNative.Wire;

namespace VsockNative.Protocol;

/// <summary>
/// The rest of one host message that did not fit the guest's rx buffer or credit when it was read
/// (a SEQPACKET message must be read whole: what a read does not take is lost). The array is rented
/// only for such a message, pinned so the host read can fill it as an IoVec, and returned as soon
/// as its last byte went to the guest.
/// </summary>
internal sealed class HostMessageBuffer
{
    private readonly PinnedRental rental = new();
    private int offset;
    private int length;

    /// <summary>Bytes of the message still to send.</summary>
    public int Remaining => length - offset;

    public bool IsEmpty => rental.Array is null;

    /// <summary>Whether the message carries a record end (sent with the last piece).</summary>
    public bool Eor { get; private set; }

    public bool HoldsArray => rental.Array is not null;

    /// <summary>Rents room for <paramref name="size"/> bytes (at least 1) and returns it as one IoVec.</summary>
    public IoVec Rent(int size)
    {
        rental.Rent(size);
        offset = 0;
        length = size;
        return new IoVec(rental.Address, (nuint)size);
    }

    /// <summary>After the read: how many bytes really arrived, and the record flag.</summary>
    public void Filled(int size, bool eor)
    {
        length = size;
        Eor = eor;
        if (size == 0)
            Return();
    }

    /// <summary>Copies the next <paramref name="n"/> bytes into <paramref name="destination"/> at
    /// <paramref name="at"/>; returns the array when the message is done.</summary>
    public void CopyTo(ReadOnlySpan<IoVec> destination, int at, int n)
    {
        ScatterIo.Scatter(destination, at, rental.Array.AsSpan(offset, n));
        offset += n;
        if (offset == length)
            Return();
    }

    /// <summary>Forgets the message; returns the bytes that were not sent.</summary>
    public int Clear()
    {
        int dropped = rental.Array is null ? 0 : Remaining;
        Return();
        return dropped;
    }

    private void Return()
    {
        rental.Return();
        offset = length = 0;
        Eor = false;
    }
}
