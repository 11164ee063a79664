using VsockNative.EventLoop;
using VsockNative.Interop;
using VsockNative.Wire;
using VsockNative.Diagnostics;
using VsockNative.Interop.Native;

namespace VsockNative.Connections;

/// <summary>
/// A call into the embedding program that the muxer decided on while the device lock was held, made
/// by the device's loop after it let the lock go (so a callback may call into any device, this one
/// included, without deadlock: see Protocol/BEHAVIOUR.md, "Sibling routing"). Made once per
/// accepted or routed connection, never per packet.
/// </summary>
internal sealed class DeferredCall : IDeferredCall
{
    // Every field is set by Set: a call taken from a pool is a new one.
    private IFdListener? _listener;
    private ISiblingRouter? _router;
    private Logger? _log;
    private SparePool<DeferredCall>? _pool;

    private DeferredCall() { }

    private static DeferredCall Make(SparePool<DeferredCall>? pool, IFdListener? listener, ISiblingRouter? router, Logger? log,
        VirtioVsockType type, ulong dstCid, uint dstPort, ulong srcCid, uint srcPort, int fd)
    {
        var call = pool?.Take() ?? new DeferredCall();
        call._listener = listener;
        call._router = router;
        call._log = log;
        call._pool = pool;
        call.Type = type;
        call.DstCid = dstCid;
        call.DstPort = dstPort;
        call.SrcCid = srcCid;
        call.SrcPort = srcPort;
        call.Fd = fd;
        return call;
    }

    /// <summary>A guest connection for a program's listener (vsn_accept_fn); from <paramref name="pool"/>
    /// when it has one, and back to it once made.</summary>
    public static DeferredCall Accept(IFdListener listener, uint port, uint guestPort, int fd, SparePool<DeferredCall>? pool = null) =>
        Make(pool, listener, null, null, VirtioVsockType.Stream, 0, port, 0, guestPort, fd);

    /// <summary>A guest REQUEST to a sibling CID for the router (from and back to <paramref name="pool"/>).</summary>
    public static DeferredCall Route(ISiblingRouter router, Logger log, VirtioVsockType type, ulong dstCid, uint dstPort, ulong srcCid, uint srcPort,
        int fd, SparePool<DeferredCall>? pool = null) =>
        Make(pool, null, router, log, type, dstCid, dstPort, srcCid, srcPort, fd);

    public bool IsRoute => _router is not null;
    public VirtioVsockType Type { get; private set; }
    public ulong DstCid { get; private set; }
    public uint DstPort { get; private set; }
    public ulong SrcCid { get; private set; }
    public uint SrcPort { get; private set; }
    public int Fd { get; private set; }

    /// <summary>Made (the device holds its lock again): the references are let go and the call goes
    /// back to the pool it came from.</summary>
    public void Release()
    {
        var pool = _pool;
        _listener = null;
        _router = null;
        _log = null;
        _pool = null;
        Fd = -1;
        pool?.Give(this);
    }

    /// <summary>Makes the call. A route the router did not take (non-zero return) has its fd closed
    /// here, which the muxer's pending route sees as a refusal.</summary>
    public void Invoke()
    {
        if (_router is null)
        {
            _listener!.Accept(DstPort, SrcPort, Fd);
            return;
        }
        int rc = _router.Route(Type, DstCid, DstPort, SrcCid, SrcPort, Fd);
        if (rc == 0) return;
        Libc.Close(Fd);
        if (_log!.Enabled(LogLevel.Info))
            _log.Info($"guest port {SrcPort} -> cid {DstCid} port {DstPort}: the router refused (errno {-rc}); RST");
    }
}
