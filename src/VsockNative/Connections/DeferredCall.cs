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
    private readonly IFdListener? _listener;
    private readonly ISiblingRouter? _router;
    private readonly Logger? _log;

    private DeferredCall(IFdListener? listener, ISiblingRouter? router, Logger? log, VirtioVsockType type, ulong dstCid, uint dstPort,
        ulong srcCid, uint srcPort, int fd)
    {
        _listener = listener;
        _router = router;
        _log = log;
        Type = type;
        DstCid = dstCid;
        DstPort = dstPort;
        SrcCid = srcCid;
        SrcPort = srcPort;
        Fd = fd;
    }

    /// <summary>A guest connection for a program's listener (vsn_accept_fn).</summary>
    public static DeferredCall Accept(IFdListener listener, uint port, uint guestPort, int fd) =>
        new(listener, null, null, VirtioVsockType.Stream, 0, port, 0, guestPort, fd);

    /// <summary>A guest REQUEST to a sibling CID for the router.</summary>
    public static DeferredCall Route(ISiblingRouter router, Logger log, VirtioVsockType type, ulong dstCid, uint dstPort, ulong srcCid, uint srcPort, int fd) =>
        new(null, router, log, type, dstCid, dstPort, srcCid, srcPort, fd);

    public bool IsRoute => _router is not null;
    public VirtioVsockType Type { get; }
    public ulong DstCid { get; }
    public uint DstPort { get; }
    public ulong SrcCid { get; }
    public uint SrcPort { get; }
    public int Fd { get; }

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
