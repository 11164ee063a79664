namespace VsockNative.Memory;

/// <summary>Why a guest-physical range could not be translated to host memory.</summary>
public enum TranslateError
{
    /// <summary>The whole range was translated.</summary>
    None = 0,

    /// <summary>At least one byte of the range lies outside every region (a gap, or past the end).</summary>
    OutOfBounds,

    /// <summary><c>address + length</c> does not fit in 64 bits.</summary>
    AddressWrap,

    /// <summary>The range spans more regions than the caller's segment span can hold.</summary>
    TooManySegments,

    /// <summary>
    /// Contiguous translation only: the range lies in memory but crosses from one region into
    /// another, so it has no single host pointer.
    /// </summary>
    NotContiguous,
}
