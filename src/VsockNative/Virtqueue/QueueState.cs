namespace VsockNative.Virtqueue;

/// <summary>Life-cycle state of a <see cref="SplitQueue"/>.</summary>
public enum QueueState
{
    /// <summary>No configuration (new, or after <see cref="SplitQueue.Reset"/>).</summary>
    Reset = 0,

    /// <summary>Configured but not processing; indexes and memory may be changed.</summary>
    Stopped,

    /// <summary>Processing: chains can be popped and used entries pushed.</summary>
    Running,

    /// <summary>
    /// The driver broke a queue-level invariant (see <see cref="QueueFault"/>); the queue is
    /// inert (touches no guest memory) until it is reconfigured or reset.
    /// </summary>
    Broken,
}
