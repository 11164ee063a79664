namespace VsockNative.Virtqueue;

/// <summary>Why a queue life-cycle or used-ring operation was refused; the queue is left unchanged.</summary>
public enum QueueError
{
    /// <summary>The operation succeeded.</summary>
    None = 0,

    /// <summary>The queue has no configuration.</summary>
    NotConfigured,

    /// <summary>The operation needs a stopped queue, and the queue is running.</summary>
    Running,

    /// <summary>The operation needs a running queue, and the queue is stopped or reset.</summary>
    NotRunning,

    /// <summary>The queue is broken; reconfigure or reset it.</summary>
    Broken,

    /// <summary><see cref="SplitQueue.UndoPop"/> without a chain to give back: the last pop did not
    /// return <see cref="PopResult.Chain"/>, or that chain was given back already.</summary>
    NothingToUndo,
}
