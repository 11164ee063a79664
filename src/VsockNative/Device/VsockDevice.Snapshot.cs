using System;
using VsockNative.Diagnostics;
using VsockNative.Virtqueue;

namespace VsockNative.Device;

// Snapshot and restore (BEHAVIOUR.md, "Snapshot and restore"): the control-plane side. The byte
// format is SnapshotCodec's, the model DeviceSnapshot's, the rx gate RestoreGate's.
internal sealed partial class VsockDevice
{
    /// <summary>Restored and not started since: the next start posts TRANSPORT_RESET and arms the gate.</summary>
    private bool _restored;

    /// <summary>The state of a stopped device as a blob (its size: <see cref="SnapshotCodec.SizeOf"/>).</summary>
    public int SaveState(out DeviceSnapshot? snapshot, out string error)
    {
        snapshot = null;
        lock (_gate)
        {
            if (_running) return Fail(out error, -Errno.EBUSY, "the device is running: stop it (vsn_device_stop) before saving its state");
            if (_needsReset) return Fail(out error, -Errno.EINVAL, "the device needs a reset: its rings are broken, there is nothing to continue");
            if (!_featuresSet) return Fail(out error, -Errno.EINVAL, "no driver features were set: there is no driver state to save");
            var queues = new QueueSnapshot[QueueSlot.Count];
            for (int i = 0; i < queues.Length; i++)
            {
                var q = _q[i];
                if (!q.Configured) continue;
                var r = q.Ring;
                var c = r.Config;
                queues[i] = new QueueSnapshot(true, c.Size, c.DescTableAddress, c.AvailRingAddress, c.UsedRingAddress,
                    r.LastAvailIdx, r.GuestUsedIdx, r.SignalledUsedIdx, r.KicksEnabled, r.SignalledUsedValid);
            }
            snapshot = new DeviceSnapshot(GuestCid, Options.OfferedFeatures, _driverFeatures, Options.SeparateDatagramQueues,
                Options.BufAlloc, queues, _backend.SaveState());
            error = "";
            return 0;
        }
    }

    /// <summary>Continues a saved device in this new one (stopped, memory table set, no queue set up):
    /// validates the whole blob against this device and its memory, then applies it (features, queues
    /// at their saved positions, the host-port allocators). The next start posts TRANSPORT_RESET.</summary>
    public int RestoreState(ReadOnlySpan<byte> blob, out string error)
    {
        lock (_gate)
        {
            if (Busy(out error)) return -Errno.EBUSY;
            if (_memory is null) return Fail(out error, -Errno.EINVAL, "set the memory table (vsn_device_set_mem_table) before restoring");
            if (_restored || Array.Exists(_q, q => q.Configured))
                return Fail(out error, -Errno.EINVAL, "restore needs a new or reset device: queues are set up already");
            var s = SnapshotCodec.Decode(blob, out var why);
            if (s is null || !Fits(s, out why)) return Fail(out error, -Errno.EINVAL, "state refused: " + why);
            int rc = SetFeatures(s.DriverFeatures, out why);
            if (rc < 0) return Fail(out error, -Errno.EINVAL, "state refused: " + why);
            var ringFeatures = RingFeatures(s.DriverFeatures);
            for (int i = 0; i < s.Queues.Length; i++)
            {
                var saved = s.Queues[i];
                if (!saved.Configured) continue;
                _q[i].Ring.Configure(_memory, new QueueConfig(saved.Size, saved.DescAddr, saved.AvailAddr, saved.UsedAddr, ringFeatures));
                _q[i].Ring.SetLastAvailIdx(saved.LastAvailIdx);
                _q[i].Configured = true;
            }
            _backend.RestoreState(s.Backend);
            _restored = true;
            string listeners = s.Backend.Listeners.Length == 0 ? "none" : string.Join(" ", Array.ConvertAll(s.Backend.Listeners, l => $"{l.Port}/{l.Type}"));
            Log.Info($"state restored: features 0x{s.DriverFeatures:x}, rx/tx/event at avail {s.Queues[QueueSlot.Rx].LastAvailIdx}/{s.Queues[QueueSlot.Tx].LastAvailIdx}/{s.Queues[QueueSlot.Event].LastAvailIdx}; "
                + $"fd-API listeners of the saved device (port/type): {listeners} (register them again with vsn_device_listen)");
            return 0;
        }
    }

    /// <summary>Checks a decoded snapshot against this device and its memory; nothing changes.</summary>
    private bool Fits(DeviceSnapshot s, out string why)
    {
        why = "";
        if (s.GuestCid != GuestCid) return No(out why, $"it is of guest CID {s.GuestCid}, this device has CID {GuestCid}");
        if (s.SeparateDatagramQueues != Options.SeparateDatagramQueues)
            return No(out why, "its dgram_layout differs from this device's (the queue numbering depends on it)");
        if ((s.DriverFeatures & ~Options.OfferedFeatures) != 0)
            return No(out why, $"the driver features 0x{s.DriverFeatures:x} include bits this device does not offer (0x{Options.OfferedFeatures:x})");
        bool five = (s.DriverFeatures & Wire.VirtioVsockFeatures.Dgram) != 0 && Options.SeparateDatagramQueues;
        var probe = new SplitQueue();
        for (uint slot = 0; slot < s.Queues.Length; slot++)
        {
            var q = s.Queues[slot];
            if (!q.Configured) continue;
            uint index = QueueSlot.IndexOf(slot, five);
            if (!five && slot is QueueSlot.DgramRx or QueueSlot.DgramTx)
                return No(out why, $"datagram queue slot {slot} is set up without the five-queue layout");
            var config = new QueueConfig(q.Size, q.DescAddr, q.AvailAddr, q.UsedAddr, RingFeatures(s.DriverFeatures));
            var placed = probe.Configure(_memory!, config);
            if (placed != QueueConfigError.None) return No(out why, $"queue {index} does not fit the memory table: {placed}");
            ushort used = probe.GuestUsedIdx;
            if (used != q.UsedIdx)
                return No(out why, $"queue {index}: used->idx in guest memory is {used}, the blob says {q.UsedIdx} (not the memory of this snapshot)");
            ushort ahead = (ushort)(probe.DriverAvailIdx - q.LastAvailIdx);
            if (ahead > q.Size)
                return No(out why, $"queue {index}: avail->idx in guest memory is {ahead} entries past the saved position, more than the ring holds");
        }
        return true;
    }

    /// <summary>Restored: TRANSPORT_RESET goes to the driver and rx waits for it (when the device has
    /// an event queue; a vhost-user frontend that keeps the event queue posts the event itself).</summary>
    private void StartRestored()
    {
        _restored = false;
        if (!_q[QueueSlot.Event].Configured)
        {
            Log.Info("restored device started without an event queue: the transport posts TRANSPORT_RESET itself");
            return;
        }
        _pump.PostTransportReset();
        _pump.Gate.Arm();
        Log.Info("restored device started: TRANSPORT_RESET posted; rx held until the driver has acted on it");
    }

    private static bool No(out string why, string reason)
    {
        why = reason;
        return false;
    }
}
