namespace VsockNative.Memory;

/// <summary>
/// One range of guest-physical memory and the host mapping that backs it, as the VMM hands it
/// over (the equivalent of a vhost-user memory region). The host mapping is owned by the VMM and
/// must stay mapped for as long as any <see cref="GuestMemory"/> built from this region is in use.
/// </summary>
public readonly struct GuestRegion
{
    /// <summary>Creates a region description; nothing is validated until <see cref="GuestMemory.TryCreate"/>.</summary>
    /// <param name="guestAddress">Guest-physical address (GPA) of the first byte.</param>
    /// <param name="size">Length in bytes; must be non-zero.</param>
    /// <param name="hostAddress">Host virtual address that maps <paramref name="guestAddress"/>.</param>
    public GuestRegion(ulong guestAddress, ulong size, nint hostAddress)
    {
        GuestAddress = guestAddress;
        Size = size;
        HostAddress = hostAddress;
    }

    /// <summary>Guest-physical address of the first byte of the region.</summary>
    public ulong GuestAddress { get; }

    /// <summary>Length of the region in bytes.</summary>
    public ulong Size { get; }

    /// <summary>Host virtual address mapping <see cref="GuestAddress"/>.</summary>
    public nint HostAddress { get; }

    /// <summary>
    /// Exclusive guest-physical end (<c>GuestAddress + Size</c>). Only meaningful for a region that
    /// passed validation, which guarantees the sum does not wrap.
    /// </summary>
    public ulong GuestEnd => unchecked(GuestAddress + Size);
}
