using System;
using System.Diagnostics.CodeAnalysis;
using VsockNative.Interop.Native;
using VsockNative.Wire;

namespace VsockNative.Protocol;

// A primer on the virtio-vsock stream protocol (virtio 1.3 §5.10.6), as this device sees it.
//
// Every packet is a 44-byte little-endian header (struct virtio_vsock_hdr) followed by `len` payload
// bytes; only RW carries payload. The guest sends on the tx queue; we answer into buffers the guest
// posted on the rx queue. A connection is named by (host cid, host port, guest cid, guest port).
//
//  - Connect: one side sends REQUEST; the other answers RESPONSE (accepted) or RST (refused).
//  - Data: RW packets, in order, no loss, no message boundaries (stream). SEQPACKET (the same machine
//    and credit) keeps boundaries: flag EOM on the last RW of a message, EOR on a record end
//    (Connection.Seqpacket.cs).
//  - Close: SHUTDOWN with flags RCV (bit 0: "I will receive no more") and/or SEND (bit 1: "I will send
//    no more"), cumulative. Once both directions are shut, one side sends RST and the connection is
//    gone. RST also aborts at any time and refuses a REQUEST.
//  - Flow control (credit): each side tells the other, in *every* packet, `buf_alloc` (its receive
//    buffer size for this connection) and `fwd_cnt` (free-running count of bytes it has consumed).
//    The sender keeps `tx_cnt` (free-running count of bytes sent) and may only send
//
//        peer_free = peer_buf_alloc - (tx_cnt - peer_fwd_cnt)        (u32, wrapping at 2^32)
//
//    more bytes. Nothing is ever dropped for lack of space: a sender without credit waits. Credit
//    travels on whatever packet goes the other way; when no packet would go (one-way traffic), the
//    receiver sends CREDIT_UPDATE on its own, and a sender may ask with CREDIT_REQUEST.
//
// Here: guest -> host bytes are written straight from the guest's buffers to the host stream; what the
// host does not take is copied into a bounded per-connection buffer (TxBuffer, at most our buf_alloc).
// Our fwd_cnt advances when the host stream takes bytes. Host -> guest bytes are read from the host
// stream straight into the guest's rx buffer, behind the header, never more than peer_free.
// Every rule the spec leaves open is decided in BEHAVIOUR.md beside this file.

/// <summary>
/// The host side of one stream or seqpacket connection: one state (<see cref="ConnState"/>), one transition switch
/// on (state, op), control replies owed as a set (<see cref="PendingReply"/>, RST first), credit in
/// both directions. Single-threaded: the muxer calls it from its event loop. It never throws on guest
/// or host input; every failure bumps a counter and sets <see cref="EndReason"/>.
/// </summary>
public sealed partial class Connection
{
    private const int HeaderSize = VirtioVsockHdr.Size;
    private const uint ShutRcv = (uint)VirtioVsockShutdown.Rcv;
    private const uint ShutSend = (uint)VirtioVsockShutdown.Send;

    // Every field is set by Init (a recycled connection is a new one: see Create).
    private IHostStream host;
    private IHostStreamBacklog? backlog;
    private VirtioVsockType type;
    private ConnectionLimits limits;
    private uint bufAlloc;
    private uint creditThreshold;
    private readonly TxBuffer txBuffer;
    private ConnectionCounters counters;

    private ConnState state;
    private PendingReply pending;
    private long deadline;
    private ConnectOutcome outcome;
    private EndReason endReason;
    private PacketFault lastFault;

    // Guest -> host credit (ours). rxCnt: bytes received from the guest; fwdCnt: of those, bytes the
    // host took (or that were dropped); lastSentFwdCnt: the fwd_cnt of the last packet we sent, i.e.
    // what the guest knows. Invariant: rxCnt - lastSentFwdCnt <= bufAlloc (else: credit violation).
    private uint rxCnt;
    private uint fwdCnt;
    private uint lastSentFwdCnt;

    // Host -> guest credit (the guest's), taken from every guest packet.
    private uint txCnt;
    private uint peerBufAlloc;
    private uint peerFwdCnt;
    private bool creditRequested;

    // Half-close. guestShutdown: SHUTDOWN bits received; localShutdown: directions the host side ended
    // (RCV: the host takes no more data; SEND: host EOF or failure).
    private uint guestShutdown;
    private uint localShutdown;
    private uint sentShutdown;
    private bool hostReadable;
    private bool hostHungUp;
    private bool hangupWhileConnecting;  // host hung up before the guest answered our REQUEST
    private bool hostClosed;
    private bool hostReadShut;
    private bool hostWriteShut;
    private bool rstOnDrain;

    private Connection(ConnKey key, IHostStream host, ConnectionLimits limits, uint initialCount, VirtioVsockType type)
    {
        ArgumentNullException.ThrowIfNull(limits);
        txBuffer = new TxBuffer(limits.BufAlloc);
        Init(key, host, limits, initialCount, type);
    }

    /// <summary>Sets every field, buffers emptied: what the constructor makes, and what a recycled
    /// connection becomes (nothing of its previous life is left).</summary>
    [MemberNotNull(nameof(host), nameof(limits))]
    private void Init(ConnKey key, IHostStream host, ConnectionLimits limits, uint initialCount, VirtioVsockType type)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(limits);
        Key = key;
        this.host = host;
        backlog = host as IHostStreamBacklog;
        this.type = type;
        messages = type == VirtioVsockType.Seqpacket ? host as IHostMessageStream : null;
        pieces = messages as IHostMessagePieces;
        this.limits = limits;
        bufAlloc = limits.BufAlloc;
        creditThreshold = limits.CreditUpdateThreshold;
        txBuffer.Reset(bufAlloc);
        counters = default;
        state = default;
        pending = PendingReply.None;
        deadline = long.MaxValue;
        outcome = default;
        endReason = EndReason.None;
        lastFault = PacketFault.None;
        rxCnt = fwdCnt = lastSentFwdCnt = txCnt = initialCount;
        peerBufAlloc = peerFwdCnt = 0;
        creditRequested = false;
        guestShutdown = localShutdown = sentShutdown = 0;
        hostReadable = hostHungUp = hangupWhileConnecting = hostClosed = hostReadShut = hostWriteShut = rstOnDrain = false;
        InitMessages();
    }

    /// <summary>A new connection, or <paramref name="recycled"/> made new (it must be done: <see cref="IsDone"/>).</summary>
    private static Connection Create(Connection? recycled, ConnKey key, IHostStream host, ConnectionLimits limits, uint initialCount,
        VirtioVsockType type)
    {
        if (recycled is null) return new Connection(key, host, limits, initialCount, type);
        if (!recycled.IsDone) throw new InvalidOperationException("only a connection that is done can be recycled");
        recycled.Init(key, host, limits, initialCount, type);
        return recycled;
    }

    /// <summary>Guest-initiated: the muxer got a REQUEST and opened the host stream. A RESPONSE is
    /// owed (state <see cref="ConnState.Accepting"/>). The connection takes the REQUEST's type:
    /// STREAM, or SEQPACKET when <paramref name="host"/> keeps message boundaries
    /// (<see cref="IHostMessageStream"/>). A REQUEST that is malformed or of another type gives a
    /// connection that only owes an RST (state <see cref="ConnState.Resetting"/>).</summary>
    /// <param name="key">The connection's identity.</param>
    /// <param name="request">The guest's REQUEST header (its buf_alloc and fwd_cnt are the initial credit).</param>
    /// <param name="host">The host stream; the connection owns it from now on and closes it.</param>
    /// <param name="limits">Sizes and timeouts.</param>
    /// <param name="nowMs">Monotonic time in milliseconds.</param>
    public static Connection AcceptFromGuest(ConnKey key, in PacketHeader request, IHostStream host, ConnectionLimits limits, long nowMs) =>
        AcceptFromGuest(key, request, host, limits, nowMs, 0);

    /// <summary>As the public overload, with every free-running counter starting at
    /// <paramref name="initialCount"/> (tests use it to cross 2^32 without moving 4 GiB), made of
    /// <paramref name="recycled"/> (a connection that is done) when one is given.</summary>
    internal static Connection AcceptFromGuest(ConnKey key, in PacketHeader request, IHostStream host, ConnectionLimits limits, long nowMs,
        uint initialCount, Connection? recycled = null)
    {
        bool seqpacket = request.Type == (ushort)VirtioVsockType.Seqpacket && host is IHostMessageStream;
        var c = Create(recycled, key, host, limits, initialCount, seqpacket ? VirtioVsockType.Seqpacket : VirtioVsockType.Stream);
        c.state = ConnState.Accepting;
        c.counters.PacketsFromGuest++;
        c.TakePeerCredit(request);
        PacketFault fault = PacketRules.Check(request, request.Len);
        if (fault != PacketFault.None)
            c.Malformed(fault);
        else if (request.Op != (ushort)VirtioVsockOp.Request)
            c.Unexpected();
        else if (request.Type != (ushort)c.type)
            c.WrongType();
        else
            c.pending = PendingReply.Response;
        return c;
    }

    /// <summary>Host-initiated: a REQUEST to the guest is owed (state <see cref="ConnState.Connecting"/>).
    /// Established on the guest's RESPONSE; refused on RST; after
    /// <see cref="ConnectionLimits.ConnectTimeoutMs"/> an RST is sent and the outcome is
    /// <see cref="Protocol.ConnectOutcome.TimedOut"/>.</summary>
    /// <param name="key">The connection's identity.</param>
    /// <param name="host">The host stream; the connection owns it from now on and closes it.</param>
    /// <param name="limits">Sizes and timeouts.</param>
    /// <param name="nowMs">Monotonic time in milliseconds.</param>
    public static Connection ConnectToGuest(ConnKey key, IHostStream host, ConnectionLimits limits, long nowMs) =>
        ConnectToGuest(key, host, limits, nowMs, 0);

    /// <summary>Host-initiated SEQPACKET connection over a host stream that keeps message boundaries;
    /// otherwise as <see cref="ConnectToGuest(ConnKey, IHostStream, ConnectionLimits, long)"/>.</summary>
    /// <param name="key">The connection's identity.</param>
    /// <param name="host">The host message stream; the connection owns it from now on and closes it.</param>
    /// <param name="limits">Sizes and timeouts.</param>
    /// <param name="nowMs">Monotonic time in milliseconds.</param>
    public static Connection ConnectToGuestSeqpacket(ConnKey key, IHostMessageStream host, ConnectionLimits limits, long nowMs) =>
        ConnectToGuest(key, host, limits, nowMs, 0, VirtioVsockType.Seqpacket);

    /// <summary>As the public overloads, with every free-running counter starting at <paramref name="initialCount"/>.</summary>
    internal static Connection ConnectToGuest(ConnKey key, IHostStream host, ConnectionLimits limits, long nowMs, uint initialCount,
        VirtioVsockType type = VirtioVsockType.Stream, Connection? recycled = null)
    {
        var c = Create(recycled, key, host, limits, initialCount, type);
        c.state = ConnState.Connecting;
        c.pending = PendingReply.Request;
        c.deadline = AddMs(nowMs, limits.ConnectTimeoutMs);
        return c;
    }

    /// <summary>The connection's identity.</summary>
    public ConnKey Key { get; private set; }

    /// <summary>STREAM, or SEQPACKET (message boundaries kept both ways).</summary>
    public VirtioVsockType Type => type;

    /// <summary>The current state.</summary>
    public ConnState State => state;

    /// <summary>The guest has heard of this connection (it sent the REQUEST, or received ours) and has
    /// not seen it end: a device reset must tell it with RST.</summary>
    public bool GuestKnowsIt => state switch
    {
        ConnState.Connecting => (pending & PendingReply.Request) == 0,
        ConnState.Accepting or ConnState.Established or ConnState.Closing or ConnState.Resetting => true,
        _ => false,
    };

    /// <summary>How the handshake ended: poll it after every call (a RESPONSE and the RW behind it
    /// arrive in separate <see cref="OnGuestPacket"/> calls, so the muxer sees Established before any
    /// guest data reaches the host stream).</summary>
    public ConnectOutcome ConnectOutcome => outcome;

    /// <summary>Why the connection ended, or <see cref="Protocol.EndReason.None"/> while it is open.</summary>
    public EndReason EndReason => endReason;

    /// <summary>The fault of the malformed packet that reset the connection, if that was the reason.</summary>
    public PacketFault LastFault => lastFault;

    /// <summary>Control replies owed now (the derived CREDIT_REQUEST included).</summary>
    public PendingReply Pending => NeedCreditRequest ? pending | PendingReply.CreditRequest : pending;

    /// <summary>A control packet is owed, or data can be sent now (host readable, peer credit, not shut).</summary>
    public bool HasPendingRx => state != ConnState.Closed && (pending != PendingReply.None || NeedCreditRequest || CanSendData);

    /// <summary>Epoll read interest: the host stream's readiness is unknown and a read could be used
    /// now (established, host-to-guest direction open, peer credit left), or, with no credit and
    /// none asked for yet, to learn that data waits and ask for credit (CREDIT_REQUEST) once.</summary>
    public bool WantsHostRead =>
        state == ConnState.Established && !hostReadable && !hostClosed && !H2gClosed && (PeerFree > 0 || !creditRequested);

    /// <summary>The host stream is known readable and data can go to the guest now: reads go on until
    /// one finds it empty (then <see cref="WantsHostRead"/> holds again).</summary>
    public bool ReadingHost => hostReadable && CanSendData;

    /// <summary>Epoll write interest: guest data is buffered for the host; or, over a host stream with a
    /// backlog, the guest's credit waits for its reader (<see cref="OnHostWritable"/> then looks whether
    /// a CREDIT_UPDATE is due).</summary>
    public bool WantsHostWrite => (QueuedToHost && !hostClosed && !hostHungUp) || CreditWaitsForReader;

    /// <summary>When <see cref="OnTimer"/> must be called; <see cref="long.MaxValue"/> = no timer.</summary>
    public long DeadlineMs => deadline;

    /// <summary>Both sides finished: nothing is owed and the host stream is closed. The muxer frees it.</summary>
    public bool IsDone => state == ConnState.Closed;

    /// <summary>A snapshot of the counters.</summary>
    public ConnectionCounters Counters => counters;

    /// <summary>The fwd_cnt the guest is told: guest bytes the host consumed. Over a host stream with a
    /// backlog (<see cref="IHostStreamBacklog"/>) bytes it accepted but its reader has not taken yet are
    /// not consumed, so the credit is end to end.</summary>
    private uint ConsumedCnt => backlog is null ? fwdCnt : unchecked(fwdCnt - backlog.Backlog);

    /// <summary>Over a host stream with a backlog: the guest's view of our space is low and the reader
    /// still holds bytes, so a CREDIT_UPDATE may become due when it takes them.</summary>
    private bool CreditWaitsForReader => backlog is not null && state == ConnState.Established && !G2hClosed && !hostClosed
        && (pending & PendingReply.CreditUpdate) == 0 && AdvertisedFree < creditThreshold && backlog.Backlog > 0;

    /// <summary>Over a host stream with a backlog, while the guest's credit waits for the reader: the
    /// backlog at or below which a CREDIT_UPDATE becomes due (the muxer has the reader signal then, not
    /// at every byte it takes); uint.MaxValue otherwise.</summary>
    public uint CreditBacklogLimit
    {
        get
        {
            if (!CreditWaitsForReader)
                return uint.MaxValue;
            long limit = (long)bufAlloc - unchecked(rxCnt - fwdCnt) - creditThreshold;
            return limit <= 0 ? 0 : (uint)limit;
        }
    }

    /// <summary>Bytes the guest may still send us as far as it knows (our buf_alloc minus what it sent
    /// since the fwd_cnt we last told it).</summary>
    public uint AdvertisedFree => unchecked(bufAlloc - (rxCnt - lastSentFwdCnt));

    /// <summary>Bytes we may still send the guest: peer_buf_alloc - (tx_cnt - peer_fwd_cnt).</summary>
    public uint PeerFree => CreditMath.Free(peerBufAlloc, txCnt, peerFwdCnt);

    /// <summary>Guest bytes buffered for the host stream (and, over a host stream with a backlog, held
    /// by it for its reader).</summary>
    public int BufferedToHost => txBuffer.Count + (int)(backlog?.Backlog ?? 0);

    internal uint RxCnt => rxCnt;
    internal uint FwdCnt => fwdCnt;
    internal uint TxCnt => txCnt;
    internal bool HoldsTxArray => txBuffer.HoldsArray;

    /// <summary>The guest will send no more data: it shut SEND, or the host takes no more (we shut RCV).</summary>
    private bool G2hClosed => ((guestShutdown & ShutSend) | (localShutdown & ShutRcv)) != 0;

    /// <summary>We will send no more data: the guest shut RCV, or the host ended its side (we shut SEND).</summary>
    private bool H2gClosed => ((guestShutdown & ShutRcv) | (localShutdown & ShutSend)) != 0;

    private bool CanSendData =>
        state == ConnState.Established && HostDataWaiting && !hostClosed && !H2gClosed && PeerFree > 0;

    private bool NeedCreditRequest =>
        state == ConnState.Established && HostDataWaiting && !hostClosed && !H2gClosed && !creditRequested && PeerFree == 0;

    /// <summary>The host is readable, or the rest of a host message waits in the device.</summary>
    private bool HostDataWaiting => hostReadable || MessageRestWaits;

    private bool ShutdownSentInFull => sentShutdown == (ShutRcv | ShutSend);

    private static long AddMs(long nowMs, long ms) => nowMs > long.MaxValue - ms ? long.MaxValue : nowMs + ms;
}
