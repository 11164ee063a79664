namespace VsockNative.Virtqueue;

/// <summary>Why a well-formed chain could not be used by the device (it is returned with length 0
/// and counted under this reason in <see cref="QueueCounters"/>).</summary>
public enum UnusableChain
{
    /// <summary>Device-readable buffers in a chain of a queue the device only writes.</summary>
    Readable,

    /// <summary>Fewer writable bytes than the smallest thing the queue carries.</summary>
    TooSmall,

    /// <summary>Room for a packet header only, while only data was owed.</summary>
    HeaderOnly,
}
