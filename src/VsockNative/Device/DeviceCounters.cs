namespace VsockNative.Device;

/// <summary>Device-wide counters (each queue's own are in vsn_queue_counter_values, from
/// vsn_queue_get_counters).</summary>
[Interop.CSection(Interop.AbiSection.Diagnostics, 3)]
[Interop.CStruct("vsn_device_counter_values")]
public struct DeviceCounters
{
    /// <summary>Well-formed packets taken from the tx queue.</summary>
    public ulong TxPackets;
    /// <summary>Payload bytes of those packets (header excluded).</summary>
    public ulong TxPayloadBytes;
    /// <summary>Tx chains dropped as malformed packets: shorter than the header, hdr.len not equal to
    /// the bytes that follow it, or device-writable buffers in a tx chain.</summary>
    public ulong TxMalformed;
    /// <summary>Packets written into rx buffers for the guest.</summary>
    public ulong RxPackets;
    /// <summary>Bytes written into rx buffers (headers included).</summary>
    public ulong RxBytes;
    /// <summary>Kicks received (kick fd events and vsn_queue_notify calls).</summary>
    public ulong Kicks;
    /// <summary>Interrupts sent (call fd writes and interrupt_fn calls).</summary>
    public ulong Interrupts;
    /// <summary>Interrupts that could not be delivered (a call fd write failed).</summary>
    public ulong InterruptErrors;
    /// <summary>TRANSPORT_RESET events requested (vsn_device_transport_reset, and each start after vsn_device_restore_state).</summary>
    public ulong TransportResets;
}
