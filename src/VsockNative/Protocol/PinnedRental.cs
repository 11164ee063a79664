using System.Buffers;
using System.Runtime.InteropServices;

namespace VsockNative.Protocol;

/// <summary>A byte array rented from the shared pool and pinned while it is held, so its address can
/// be handed to the host as an IoVec. Renting after warm-up allocates nothing.</summary>
internal sealed class PinnedRental
{
    private GCHandle pin;

    /// <summary>The rented array (at least the size asked for), or null.</summary>
    public byte[]? Array { get; private set; }

    /// <summary>The address of <see cref="Array"/>'s first byte, or 0.</summary>
    public nint Address { get; private set; }

    public void Rent(int size)
    {
        Array = ArrayPool<byte>.Shared.Rent(size);
        pin = GCHandle.Alloc(Array, GCHandleType.Pinned);
        Address = pin.AddrOfPinnedObject();
    }

    /// <summary>Unpins and returns the array; nothing if none is held.</summary>
    public void Return()
    {
        if (Array is null)
            return;
        pin.Free();
        ArrayPool<byte>.Shared.Return(Array);
        Array = null;
        Address = 0;
    }
}
