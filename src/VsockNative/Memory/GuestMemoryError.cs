namespace VsockNative.Memory;

/// <summary>Why a region table was rejected by <see cref="GuestMemory.TryCreate"/>.</summary>
public enum GuestMemoryError
{
    /// <summary>The table is valid.</summary>
    None = 0,

    /// <summary>The table has no region at all.</summary>
    NoRegions,

    /// <summary>The table has more than <see cref="GuestMemory.MaxRegions"/> regions.</summary>
    TooManyRegions,

    /// <summary>A region has a size of zero.</summary>
    EmptyRegion,

    /// <summary>A region's host address is null.</summary>
    NullHostAddress,

    /// <summary><c>guest address + size</c> of a region does not fit in 64 bits.</summary>
    GuestRangeWraps,

    /// <summary><c>host address + size</c> of a region does not fit in the host address space.</summary>
    HostRangeWraps,

    /// <summary>Two regions share at least one guest-physical address.</summary>
    Overlap,
}
