namespace VsockNative.Virtqueue;

/// <summary>The VIRTIO_F_EVENT_IDX notification rule (virtio 1.2 §2.7.7, §2.7.10).</summary>
public static class EventIndex
{
    /// <summary>
    /// <c>vring_need_event</c>: whether moving an index from <paramref name="oldIdx"/> to
    /// <paramref name="newIdx"/> crossed the other side's <paramref name="eventIdx"/>, i.e. whether
    /// <c>eventIdx</c> lies in [old, new) with 16-bit wrap: <c>(u16)(new - event - 1) &lt; (u16)(new - old)</c>.
    /// </summary>
    public static bool NeedEvent(ushort eventIdx, ushort newIdx, ushort oldIdx) =>
        (ushort)(newIdx - eventIdx - 1) < (ushort)(newIdx - oldIdx);
}
