using VsockNative.Wire;

namespace VsockNative.Connections;

/// <summary>
/// A call into the embedding program that the muxer decided on while the device lock was held, made
/// by the device after it let the lock go (so a callback may call into any device, this one
/// included, without deadlock: see Protocol/BEHAVIOUR.md, "Sibling routing").
/// </summary>
internal readonly struct DeferredCall
{
    private DeferredCall(bool route, FdListener listener, ISiblingRouter? router, nint user, ulong dstCid, uint dstPort,
        ulong srcCid, uint srcPort, int fd, VirtioVsockType type = VirtioVsockType.Stream)
    {
        IsRoute = route;
        Type = type;
        Listener = listener;
        Router = router;
        User = user;
        DstCid = dstCid;
        DstPort = dstPort;
        SrcCid = srcCid;
        SrcPort = srcPort;
        Fd = fd;
    }

    /// <summary>A guest connection for a program's listener (vsn_accept_fn).</summary>
    public static DeferredCall Accept(FdListener listener, uint port, uint guestPort, int fd) =>
        new(false, listener, null, listener.User, 0, port, 0, guestPort, fd);

    /// <summary>A guest REQUEST to a sibling CID for the router (vsn_route_fn).</summary>
    public static DeferredCall Route(ISiblingRouter router, VirtioVsockType type, ulong dstCid, uint dstPort, ulong srcCid, uint srcPort, int fd) =>
        new(true, default, router, 0, dstCid, dstPort, srcCid, srcPort, fd, type);

    public bool IsRoute { get; }
    public FdListener Listener { get; }
    public ISiblingRouter? Router { get; }
    public VirtioVsockType Type { get; }
    public nint User { get; }
    public ulong DstCid { get; }
    public uint DstPort { get; }
    public ulong SrcCid { get; }
    public uint SrcPort { get; }
    public int Fd { get; }

    /// <summary>Makes the call. A route the router did not take (non-zero return) has its fd closed
    /// here, which the muxer's pending route sees as a refusal.</summary>
    public unsafe int Invoke()
    {
        if (!IsRoute)
        {
            Listener.Callback.Fn((void*)User, DstPort, SrcPort, Fd);
            return 0;
        }
        int rc = Router!.Route(Type, DstCid, DstPort, SrcCid, SrcPort, Fd);
        if (rc != 0) EventLoop.Libc.Close(Fd);
        return rc;
    }
}
