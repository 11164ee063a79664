using VsockNative.Connections;
using VsockNative.Wire;

namespace VsockNative.Interop;

/// <summary>Called on the device's event-loop thread, outside the device's lock, when the guest sends
/// a REQUEST to a CID that is neither the host nor itself. <c>type</c> is the connection's socket type
/// (VSN_VIRTIO_VSOCK_TYPE_STREAM or _SEQPACKET); <c>fd</c> is one end of a new socketpair of that kind
/// (SOCK_STREAM or SOCK_SEQPACKET; non-blocking, close-on-exec): hand it to the target with
/// vsn_device_connect_from (same type) and return 0 (the fd is then no longer the device's), or return a
/// negative errno and the device closes fd and answers the guest with RST. Must not block for long:
/// the device's queues wait meanwhile. With VSN_DEVICE_F_ROUTE_HOST it is also called for stream and
/// seqpacket REQUESTs to the host (dst_cid 2) on ports with no vsn_device_listen listener: the program
/// connects wherever it forwards to, writes the byte VSN_ROUTE_ACCEPTED on fd when that peer accepted
/// (the guest gets RESPONSE then; on a SOCK_SEQPACKET pair a one-byte message) and carries the data
/// both ways, or closes fd (the guest gets RST). On a SOCK_SEQPACKET pair that the program keeps (a
/// route to the host, or a sibling route handed to a program rather than to a device), every message
/// after the acceptance byte, both ways, is one guest message with one leading flags byte: bit 0
/// (1) means the record ends there (VIRTIO_VSOCK_SEQ_EOR, MSG_EOR), which AF_UNIX does not carry;
/// the other bits are 0 (so a message is never empty; its payload is at most the device's buf_alloc).</summary>
[CSection(AbiSection.Routing, 1)]
[CCallback("vsn_router_fn", "user", "type", "dst_cid", "dst_port", "src_cid", "src_port", "fd")]
internal unsafe struct RouterCallback
{
    public delegate* unmanaged<void*, uint, ulong, uint, ulong, uint, int, int> Fn;
}

/// <summary>Deprecated (ABI 0.3): the router of vsn_set_router, without the socket type; it is given
/// stream connections only. Use vsn_router_fn with vsn_device_set_router.</summary>
[CSection(AbiSection.Deprecated, 1)]
[CCallback("vsn_route_fn", "user", "dst_cid", "dst_port", "src_cid", "src_port", "fd")]
internal unsafe struct RouteCallback
{
    public delegate* unmanaged<void*, ulong, uint, ulong, uint, int, int> Fn;
}

/// <summary>A C router (vsn_router_fn) as the connection layer sees it.</summary>
internal sealed unsafe class CRouter : ISiblingRouter
{
    private readonly RouterCallback _fn;
    private readonly nint _user;

    public CRouter(RouterCallback fn, nint user) { _fn = fn; _user = user; }

    public bool Takes(VirtioVsockType type) => type is VirtioVsockType.Stream or VirtioVsockType.Seqpacket;

    public int Route(VirtioVsockType type, ulong dstCid, uint dstPort, ulong srcCid, uint srcPort, int fd) =>
        _fn.Fn((void*)_user, (uint)type, dstCid, dstPort, srcCid, srcPort, fd);
}

/// <summary>A C router of the deprecated vsn_route_fn kind: streams only.</summary>
internal sealed unsafe class CStreamRouter : ISiblingRouter
{
    private readonly RouteCallback _fn;
    private readonly nint _user;

    public CStreamRouter(RouteCallback fn, nint user) { _fn = fn; _user = user; }

    public bool Takes(VirtioVsockType type) => type == VirtioVsockType.Stream;

    public int Route(VirtioVsockType type, ulong dstCid, uint dstPort, ulong srcCid, uint srcPort, int fd) =>
        _fn.Fn((void*)_user, dstCid, dstPort, srcCid, srcPort, fd);
}
