using VsockNative.Virtqueue;

namespace VsockNative.Device;

/// <summary>
/// Holds rx back after a restore until the guest's driver has acted on the TRANSPORT_RESET event
/// (Firecracker's pending_event_ack, v1.16): a packet for a new connection must not reach a driver
/// that has not yet reset the old ones, or the reset would take the new one too. Armed only by the
/// start that follows a restore, never by a plain stop/start (Firecracker #6100). The driver has
/// acted when it gives an event buffer back after the event was written: Linux's
/// virtio_transport_event_work refills the buffer after handling the event, then kicks.
/// </summary>
internal sealed class RestoreGate
{
    private enum Phase { Open, AwaitingDelivery, AwaitingAck }

    private Phase _phase;
    private ushort _availAtDelivery;

    /// <summary>Rx buffers are not filled.</summary>
    public bool HoldsRx => _phase != Phase.Open;

    public void Arm() => _phase = Phase.AwaitingDelivery;

    public void Disarm() => _phase = Phase.Open;

    /// <summary>The event was written into a buffer: from now on, the driver's next buffer opens the
    /// gate (asked for with a kick at the next avail index).</summary>
    public void Delivered(SplitQueue eventRing)
    {
        if (_phase != Phase.AwaitingDelivery) return;
        _phase = Phase.AwaitingAck;
        eventRing.RequestKickAtNextAvail();
        _availAtDelivery = eventRing.DriverAvailIdx;
    }

    /// <summary>Opens the gate when the driver has made an event buffer available since the delivery
    /// (seen on its kick, or on any loop turn). True when the gate is open.</summary>
    public bool TryOpen(SplitQueue eventRing)
    {
        if (_phase == Phase.AwaitingAck && eventRing.DriverAvailIdx != _availAtDelivery) _phase = Phase.Open;
        return _phase == Phase.Open;
    }
}
