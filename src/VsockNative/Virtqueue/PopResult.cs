namespace VsockNative.Virtqueue;

/// <summary>Outcome of <see cref="SplitQueue.Pop"/>.</summary>
public enum PopResult
{
    /// <summary>No new chain is available.</summary>
    Empty = 0,

    /// <summary>A well-formed chain was consumed and described in the <see cref="DescriptorChain"/>.</summary>
    Chain,

    /// <summary>
    /// A malformed chain was consumed: <see cref="DescriptorChain.Error"/> says why and
    /// <see cref="DescriptorChain.HeadIndex"/> names it (return it used with length 0); its
    /// segment lists are empty.
    /// </summary>
    BadChain,

    /// <summary>The queue is not running; nothing was read.</summary>
    NotRunning,

    /// <summary>The queue is broken (now or before); nothing is consumed until it is reconfigured.</summary>
    Broken,
}
