using System;
using VsockNative.Protocol;
using VsockNative.Wire;

namespace VsockNative.Connections;

/// <summary>Which of the device's packet queues a packet came on or a buffer belongs to: the
/// stream queues (rx 0 / tx 1, which also carry datagrams in the shared layout), or the datagram
/// queues of the separate layout.</summary>
internal enum BackendQueue
{
    Stream,
    Datagram,
}

/// <summary>
/// Everything behind the device's queues, as the device core sees it (Firecracker's "backend"):
/// packets from the guest go in, packets for the guest come out into rx buffers, and the backend
/// owns the host endpoints and their fds (in the device's event loop), its timers, and the calls into
/// the embedding program it wants made outside the device's lock. The device knows nothing else
/// of connections; tests can put a fake behind a real device. Called under the device's lock, on
/// its event loop (or from a control call), never concurrently.
/// </summary>
internal interface IVsockBackend : IDisposable
{
    /// <summary>The driver's features were recorded; <paramref name="separateDatagramQueues"/>: datagrams
    /// travel on their own queues (the five-queue layout).</summary>
    void OnFeatures(ulong features, bool separateDatagramQueues);

    /// <summary>The device starts: open the host endpoints (listening sockets); 0 or -errno with why.</summary>
    int OpenEndpoints(out string error);

    /// <summary>The device starts again after a reset; <paramref name="sameDriver"/>: the rings resumed
    /// where they were, so the driver still knows the connections the reset dropped.</summary>
    void OnStartAfterReset(bool sameDriver);

    /// <summary>Drops every connection and what is in flight (device reset: <paramref name="tellGuest"/>;
    /// TRANSPORT_RESET: the event tells the guest). Endpoints stay open.</summary>
    void DropConnections(bool tellGuest);

    /// <summary>One packet from a tx queue: its header (a private copy) and payload (guest memory).</summary>
    void OnGuestPacket(in PacketHeader header, ReadOnlySpan<IoVec> payload, BackendQueue queue, long nowMs);

    /// <summary>Whether a packet waits for a buffer of that rx queue.</summary>
    bool HasPendingRx(BackendQueue queue);

    /// <summary>Writes one packet into an rx buffer (at least a header's size); returns the bytes
    /// written, 0 when nothing fits it now.</summary>
    uint FillRx(BackendQueue queue, ReadOnlySpan<IoVec> buffer, long nowMs);

    /// <summary>The earliest deadline (monotonic ms), long.MaxValue for none.</summary>
    long NextDeadlineMs { get; }

    /// <summary>Runs the deadlines that passed (called every loop turn: cheap when none has).</summary>
    void OnTimer(long nowMs);

    /// <summary>Another thread signalled the backend (a sibling device's link moved: bytes, room, a
    /// shutdown, an answer) and woke the loop: look at what it flagged. Called every loop round, after
    /// the wake fd was drained.</summary>
    void OnSignals(long nowMs);

    /// <summary>One of the backend's fds is ready (every tag the device does not own is the backend's).</summary>
    void OnFdEvent(ulong tag, uint events, long nowMs);

    /// <summary>Hands the calls into the program decided under the lock to <paramref name="into"/>, to be
    /// made after it is released.</summary>
    void TakeDeferred(EventLoop.IDeferredSink into);

    /// <summary>The loop is about to wait (under the lock, before every epoll_wait): fd interest the
    /// backend put off until the end of the turn must be registered now.</summary>
    void BeforeWait() { }

    /// <summary>Guest connections of <paramref name="type"/> to host <paramref name="port"/> go to
    /// <paramref name="listener"/>; 0 or -errno with why.</summary>
    int Listen(uint port, VirtioVsockType type, IFdListener listener, out string error);

    int Unlisten(uint port, VirtioVsockType type, out string error);

    /// <summary>Opens a connection (or a datagram binding) to a guest port; the program's fd, or -errno with why.</summary>
    int Connect(uint guestPort, VirtioVsockType type, long nowMs, out int fd, out string error);

    /// <summary>A sibling's guest connects to a port of this guest over <paramref name="fd"/>.</summary>
    int ConnectFrom(uint guestPort, VirtioVsockType type, ulong srcCid, uint srcPort, int fd, long nowMs, out string error);

    /// <summary>Where guest REQUESTs to sibling CIDs go (null: nowhere, RST).</summary>
    ISiblingRouter? Router { get; set; }

    MuxerCounters ConnectionCounters { get; }
    /// <summary>What the connection layer could not do for lack of fds or memory.</summary>
    ResourceCounters ResourceCounters => default;
    ConnectionCounters EndedConnectionCounters { get; }
    DatagramCounters DatagramCounters { get; }

    /// <summary>Snapshots up to <c>destination.Length</c> connections; returns how many there are.</summary>
    int Snapshot(Span<ConnectionInfo> destination);

    /// <summary>What a device snapshot keeps of the backend (a backend without state: a fresh one).</summary>
    BackendState SaveState() => BackendState.Fresh;

    /// <summary>Continues from a saved state (the allocators; listeners are the program's to register
    /// again). False, nothing changed, when a value is out of range.</summary>
    bool RestoreState(in BackendState state) => true;
}
