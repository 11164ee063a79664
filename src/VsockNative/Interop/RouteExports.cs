using System;
using System.Runtime.InteropServices;
using VsockNative.Connections;

namespace VsockNative.Interop;

/// <summary>Exports of sibling routing: guest-to-guest connections carried device to device.</summary>
internal static unsafe class RouteExports
{
    /// <summary>The byte vsn_device_connect_from writes on its fd when the guest accepted, before any stream
    /// data (the routing device waits for it before it answers its own guest with RESPONSE).</summary>
    [CDefine("VSN_ROUTE_ACCEPTED"), CSection(AbiSection.Routing, 1)] public const uint RouteAccepted = Muxer.RouteAccepted;

    /// <summary>Installs the router: from now on a guest REQUEST (stream or seqpacket) to a CID that is
    /// neither the host (2) nor the guest itself is handed to fn with its socket type and one end of a
    /// socketpair of that type, on the event-loop thread and outside the device's lock, so fn may call
    /// vsn_device_connect_from on any device (also one whose own loop is routing to this device at the same
    /// moment: no deadlock). The guest gets RESPONSE only when the target guest accepted, RST when it
    /// refused, when fn failed, or when no answer came in twice the connect timeout. Without a router
    /// such REQUESTs get RST. When fn hands the fd to vsn_device_connect_from on a device of this library in
    /// this process, the two devices connect directly: no socket on the data path, credit end to end,
    /// and the pair is closed once the target took it; otherwise (fd handed to a program) the pair
    /// carries the connection. Seqpacket connections keep every message boundary and the record-end
    /// flag (MSG_EOR) end to end either way.
    /// Threads: any thread; serialized by the device's lock; not from a device callback.</summary>
    /// <param name="device">The device.</param>
    /// <param name="fn">The router, or NULL to remove it.</param>
    /// <param name="user">Passed to fn.</param>
    /// <returns>0; -EBADF.</returns>
    [UnmanagedCallersOnly(EntryPoint = "vsn_device_set_router")]
    [CSection(AbiSection.Routing, 1)]
    public static int SetRouterTyped(DeviceHandle device, RouterCallback fn, void* user)
    {
        const string name = "vsn_device_set_router";
        try
        {
            int rc = Abi.Lookup(device, name, out var d);
            return rc != 0 ? rc : Abi.Result(d, name, d.SetRouter(fn.Fn == null ? null : new CRouter(fn, (nint)user), out var why), why);
        }
        catch (Exception e) { return Abi.Crash(name, e); }
    }

    /// <summary>Deprecated since ABI 0.4 (kept for one minor): vsn_device_set_router with a router that
    /// does not learn the socket type, so it is given stream connections only (a seqpacket REQUEST to a
    /// sibling is answered with RST and logged).
    /// Threads: any thread; serialized by the device's lock; not from a device callback.</summary>
    /// <param name="device">The device.</param>
    /// <param name="fn">The router, or NULL to remove it.</param>
    /// <param name="user">Passed to fn.</param>
    /// <returns>0; -EBADF.</returns>
    [UnmanagedCallersOnly(EntryPoint = "vsn_set_router")]
    [CSection(AbiSection.Deprecated, 1)]
    public static int SetRouter(DeviceHandle device, RouteCallback fn, void* user)
    {
        const string name = "vsn_set_router";
        try
        {
            int rc = Abi.Lookup(device, name, out var d);
            return rc != 0 ? rc : Abi.Result(d, name, d.SetRouter(fn.Fn == null ? null : new CStreamRouter(fn, (nint)user), out var why), why);
        }
        catch (Exception e) { return Abi.Crash(name, e); }
    }

    /// <summary>Connects a sibling's guest to a port of this guest over fd (what a vsn_router_fn does
    /// with the fd it got): the guest sees a REQUEST from (src_cid, src_port). When fd is the end a
    /// device of this library in this process gave its router, the connection goes device to device
    /// (fd is closed at once; vsn_connection_info.flags has VSN_CONN_F_DIRECT_LINK): the origin's guest
    /// gets RESPONSE when this guest accepts, RST when it refuses or does not answer in time, and credit
    /// is end to end. Any other fd (a program's socket) carries the connection: when the guest accepts,
    /// the byte VSN_ROUTE_ACCEPTED is written on fd, then the stream flows both ways with flow control
    /// at each hop (each device buffers at most its buf_alloc per connection; a slow guest slows its
    /// peer). If the guest refuses or does not answer in time, fd is closed.
    /// Threads: any thread, also from a vsn_router_fn of any device; takes only this device's lock,
    /// briefly (never from an interrupt_fn or log_fn, which run under a device's lock).</summary>
    /// <param name="device">The target device.</param>
    /// <param name="guest_port">The port in this guest.</param>
    /// <param name="type">VSN_VIRTIO_VSOCK_TYPE_STREAM or _SEQPACKET, the type the router was given; the
    ///     fd must be of the matching socket type (SOCK_STREAM / SOCK_SEQPACKET). DGRAM: -ENOTSUP.</param>
    /// <param name="src_cid">The connecting guest's CID: 3 .. 0xFFFFFFFE, not this guest's.</param>
    /// <param name="src_port">The connecting guest's port.</param>
    /// <param name="fd">A connected stream socket (one end of a socketpair); taken on success.</param>
    /// <returns>0 (fd is the device's now); -ENOTCONN when the device is not running; -EADDRINUSE when
    ///     that (src_cid, src_port, guest_port) is connected already; -EAGAIN at the connection limit;
    ///     -EINVAL for a reserved src_cid; -EBADF for a negative fd or an unknown device; -ENOTSUP for datagrams, or seqpacket when this
    ///     guest did not negotiate VIRTIO_VSOCK_F_SEQPACKET; -EPROTOTYPE when fd's socket type does not match. On
    ///     failure fd stays the caller's.</returns>
    [UnmanagedCallersOnly(EntryPoint = "vsn_device_connect_from")]
    [CSection(AbiSection.Routing, 2)]
    public static int ConnectFrom(DeviceHandle device, uint guest_port, uint type, ulong src_cid, uint src_port, int fd)
    {
        try { return ConnectFromAs("vsn_device_connect_from", device, guest_port, type, src_cid, src_port, fd); }
        catch (Exception e) { return Abi.Crash("vsn_device_connect_from", e); }
    }

    /// <summary>Deprecated since ABI 0.5 (kept for one minor): the former name of
    /// vsn_device_connect_from, which it calls with the same arguments and results.
    /// Threads: as vsn_device_connect_from.</summary>
    /// <param name="device">The target device.</param>
    /// <param name="guest_port">The port in this guest.</param>
    /// <param name="type">As for vsn_device_connect_from.</param>
    /// <param name="src_cid">The connecting guest's CID.</param>
    /// <param name="src_port">The connecting guest's port.</param>
    /// <param name="fd">One end of a socketpair; taken on success.</param>
    /// <returns>As vsn_device_connect_from.</returns>
    [UnmanagedCallersOnly(EntryPoint = "vsn_connect_from")]
    [CSection(AbiSection.Deprecated, 5)]
    public static int ConnectFromDeprecated(DeviceHandle device, uint guest_port, uint type, ulong src_cid, uint src_port, int fd)
    {
        try { return ConnectFromAs("vsn_connect_from", device, guest_port, type, src_cid, src_port, fd); }
        catch (Exception e) { return Abi.Crash("vsn_connect_from", e); }
    }

    private static int ConnectFromAs(string name, DeviceHandle device, uint guest_port, uint type, ulong src_cid, uint src_port, int fd)
    {
        int rc = Abi.Lookup(device, name, out var d);
        return rc != 0 ? rc : Abi.Result(d, name, d.ConnectFrom(guest_port, type, src_cid, src_port, fd, out var why), why);
    }
}
