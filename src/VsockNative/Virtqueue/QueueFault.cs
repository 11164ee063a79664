namespace VsockNative.Virtqueue;

/// <summary>Why a queue is <see cref="QueueState.Broken"/> ("needs reset").</summary>
public enum QueueFault
{
    /// <summary>The queue is not broken.</summary>
    None = 0,

    /// <summary>
    /// <c>avail-&gt;idx</c> was more than the queue size ahead of the device's last_avail_idx:
    /// the driver claims more new chains than the ring can hold.
    /// </summary>
    AvailIndexTooFarAhead,
}
