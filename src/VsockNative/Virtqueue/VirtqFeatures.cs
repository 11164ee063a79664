using System;

namespace VsockNative.Virtqueue;

/// <summary>
/// The negotiated ring features a split queue honours, at their virtio feature-bit positions so a
/// negotiated feature word can be passed as is (other bits are ignored by the queue layer).
/// </summary>
[Flags]
public enum VirtqFeatures : ulong
{
    /// <summary>No ring feature.</summary>
    None = 0,

    /// <summary>VIRTIO_F_INDIRECT_DESC (bit 28): descriptors may refer to indirect tables (§2.7.5.3).</summary>
    IndirectDesc = 1UL << 28,

    /// <summary>VIRTIO_F_EVENT_IDX (bit 29): used_event / avail_event notification suppression (§2.7.7, §2.7.10).</summary>
    EventIdx = 1UL << 29,
}
