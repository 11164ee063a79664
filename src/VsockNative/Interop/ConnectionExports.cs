using System;
using System.Runtime.InteropServices;
using VsockNative.Connections;
using VsockNative.Diagnostics;

namespace VsockNative.Interop;

/// <summary>Exports of the fd-level connection API (with the deprecated names of ABI 0.4) and
/// TRANSPORT_RESET. Thread-safe.</summary>
internal static unsafe class ConnectionExports
{
    /// <summary>Listens on a host port: each guest connection of this type to it is handed to fn as a
    /// new fd (the program's end of a socketpair: SOCK_STREAM for stream, SOCK_SEQPACKET for seqpacket,
    /// where each message the guest sent is one message on the fd, and whose send buffer takes a
    /// message of buf_alloc bytes), on the device's event-loop thread.
    /// Takes precedence over the hybrid socket's "&lt;uds_path&gt;_&lt;port&gt;" for that port. A port
    /// has at most one listener per type.
    /// VSN_VIRTIO_VSOCK_TYPE_DGRAM: at the first guest datagram to the port, fn gets one SOCK_DGRAM fd
    /// (guest_port: that first sender) that carries every datagram of the port, each preceded by a
    /// struct vsn_dgram_addr (port: the guest port it came from; writing: the guest port it goes to,
    /// reserved 0). A datagram is read or written whole (at most 65536 bytes after the prefix); when the
    /// guest is slow, writes fail with EAGAIN. If the program closes the fd, the next datagram makes a new one.
    /// Threads: callable from any thread (it takes the device's lock); fn runs on the event-loop
    /// thread (or the thread in vsn_device_poll) and must not stop or destroy the device.</summary>
    /// <param name="device">The device.</param>
    /// <param name="port">The host port guests connect to.</param>
    /// <param name="type">VSN_VIRTIO_VSOCK_TYPE_STREAM, VSN_VIRTIO_VSOCK_TYPE_SEQPACKET (guests reach a
    /// seqpacket listener only when the driver negotiated VIRTIO_VSOCK_F_SEQPACKET) or
    /// VSN_VIRTIO_VSOCK_TYPE_DGRAM.</param>
    /// <param name="fn">Receives each new connection; must not be NULL.</param>
    /// <param name="user">Passed to fn.</param>
    /// <returns>0; -EEXIST when the port has a listener of this type; -EINVAL for NULL fn; -ENOTSUP for
    /// another type (also DGRAM when VIRTIO_VSOCK_F_DGRAM is not offered); -EBADF.</returns>
    [UnmanagedCallersOnly(EntryPoint = "vsn_device_listen")]
    [CSection(AbiSection.FdApi, 1)]
    public static int Listen(DeviceHandle device, uint port, uint type, AcceptCallback fn, void* user)
    {
        try { return ListenAs("vsn_device_listen", device, port, type, fn, user); }
        catch (Exception e) { return Abi.Crash("vsn_device_listen", e); }
    }

    /// <summary>Deprecated since ABI 0.5 (kept for one minor): the former name of vsn_device_listen, which
    /// it calls with the same arguments and results. Threads: as vsn_device_listen.</summary>
    /// <param name="device">The device.</param>
    /// <param name="port">The host port guests connect to.</param>
    /// <param name="type">As for vsn_device_listen.</param>
    /// <param name="fn">Receives each new connection; must not be NULL.</param>
    /// <param name="user">Passed to fn.</param>
    /// <returns>As vsn_device_listen.</returns>
    [UnmanagedCallersOnly(EntryPoint = "vsn_listen")]
    [CSection(AbiSection.Deprecated, 2)]
    public static int ListenDeprecated(DeviceHandle device, uint port, uint type, AcceptCallback fn, void* user)
    {
        try { return ListenAs("vsn_listen", device, port, type, fn, user); }
        catch (Exception e) { return Abi.Crash("vsn_listen", e); }
    }

    private static int ListenAs(string name, DeviceHandle device, uint port, uint type, AcceptCallback fn, void* user)
    {
        int rc = Abi.Lookup(device, name, out var d);
        if (rc != 0) return rc;
        if (fn.Fn == null) return Abi.Reject(d.Log, name, -Errno.EINVAL, "fn is NULL");
        return Abi.Result(d, name, d.Listen(port, type, new CAcceptListener(fn, (nint)user), out var why), why);
    }

    /// <summary>Stops listening on a host port (connections already made stay; DGRAM: the device's end
    /// of the fd handed out is closed).
    /// Threads: any thread; serialized by the device's lock; not from inside fn.</summary>
    /// <param name="device">The device.</param>
    /// <param name="port">The host port.</param>
    /// <param name="type">As given to vsn_device_listen.</param>
    /// <returns>0; -ENOENT when the port has no listener of this type; -EBADF.</returns>
    [UnmanagedCallersOnly(EntryPoint = "vsn_device_unlisten")]
    [CSection(AbiSection.FdApi, 2)]
    public static int Unlisten(DeviceHandle device, uint port, uint type)
    {
        try { return UnlistenAs("vsn_device_unlisten", device, port, type); }
        catch (Exception e) { return Abi.Crash("vsn_device_unlisten", e); }
    }

    /// <summary>Deprecated since ABI 0.5 (kept for one minor): the former name of vsn_device_unlisten,
    /// which it calls with the same arguments and results. Threads: as vsn_device_unlisten.</summary>
    /// <param name="device">The device.</param>
    /// <param name="port">The host port.</param>
    /// <param name="type">As given to vsn_device_listen.</param>
    /// <returns>As vsn_device_unlisten.</returns>
    [UnmanagedCallersOnly(EntryPoint = "vsn_unlisten")]
    [CSection(AbiSection.Deprecated, 3)]
    public static int UnlistenDeprecated(DeviceHandle device, uint port, uint type)
    {
        try { return UnlistenAs("vsn_unlisten", device, port, type); }
        catch (Exception e) { return Abi.Crash("vsn_unlisten", e); }
    }

    private static int UnlistenAs(string name, DeviceHandle device, uint port, uint type)
    {
        int rc = Abi.Lookup(device, name, out var d);
        return rc != 0 ? rc : Abi.Result(d, name, d.Unlisten(port, type, out var why), why);
    }

    /// <summary>Connects to a port in the guest and returns the program's end of the connection at once
    /// (non-blocking, close-on-exec; the caller owns it): a SOCK_STREAM socket for stream, a
    /// SOCK_SEQPACKET socket for seqpacket (each message written is one guest message; its send buffer
    /// takes a message of buf_alloc bytes; one larger than the device's or the guest's buf_alloc
    /// resets the connection). Data written before the guest
    /// accepts waits; if the guest refuses or does not answer in time the fd reads end of stream.
    /// VSN_VIRTIO_VSOCK_TYPE_DGRAM: a SOCK_DGRAM fd bound to (a host port the device picks, guest_port),
    /// no prefix: each datagram written goes whole to guest_port (at most 65536 bytes; EAGAIN while the
    /// guest is slow); each datagram guest_port sends to that host port can be read. Datagrams are
    /// dropped while VIRTIO_VSOCK_F_DGRAM is not negotiated (counted). Threads: callable from any
    /// thread (it takes the device's lock).</summary>
    /// <param name="device">The device.</param>
    /// <param name="guest_port">The guest port.</param>
    /// <param name="type">VSN_VIRTIO_VSOCK_TYPE_STREAM, VSN_VIRTIO_VSOCK_TYPE_SEQPACKET once the driver
    /// negotiated VIRTIO_VSOCK_F_SEQPACKET, or VSN_VIRTIO_VSOCK_TYPE_DGRAM.</param>
    /// <param name="out_fd">Receives the fd.</param>
    /// <returns>0; -EINVAL for NULL out_fd; -EAGAIN when the connection limit (DGRAM: max_dgram_sockets)
    /// is reached; -ENOTSUP for another type, seqpacket without the feature, or DGRAM when
    /// VIRTIO_VSOCK_F_DGRAM is not offered; -EBADF.</returns>
    [UnmanagedCallersOnly(EntryPoint = "vsn_device_connect")]
    [CSection(AbiSection.FdApi, 3)]
    public static int Connect(DeviceHandle device, uint guest_port, uint type, int* out_fd)
    {
        try { return ConnectAs("vsn_device_connect", device, guest_port, type, out_fd); }
        catch (Exception e) { return Abi.Crash("vsn_device_connect", e); }
    }

    /// <summary>Deprecated since ABI 0.5 (kept for one minor): the former name of vsn_device_connect,
    /// which it calls with the same arguments and results. Threads: as vsn_device_connect.</summary>
    /// <param name="device">The device.</param>
    /// <param name="guest_port">The guest port.</param>
    /// <param name="type">As for vsn_device_connect.</param>
    /// <param name="out_fd">Receives the fd.</param>
    /// <returns>As vsn_device_connect.</returns>
    [UnmanagedCallersOnly(EntryPoint = "vsn_connect")]
    [CSection(AbiSection.Deprecated, 4)]
    public static int ConnectDeprecated(DeviceHandle device, uint guest_port, uint type, int* out_fd)
    {
        try { return ConnectAs("vsn_connect", device, guest_port, type, out_fd); }
        catch (Exception e) { return Abi.Crash("vsn_connect", e); }
    }

    private static int ConnectAs(string name, DeviceHandle device, uint guest_port, uint type, int* out_fd)
    {
        int rc = Abi.Lookup(device, name, out var d);
        if (rc != 0) return rc;
        if (out_fd == null) return Abi.Reject(d.Log, name, -Errno.EINVAL, "out_fd is NULL");
        rc = d.Connect(guest_port, type, out int fd, out var why);
        if (rc == 0) *out_fd = fd;
        return Abi.Result(d, name, rc, why);
    }

    /// <summary>Sends VIRTIO_VSOCK_EVENT_TRANSPORT_RESET to the driver (before a snapshot or migration):
    /// every connection is dropped on the host side at once, and the guest resets its sockets when it
    /// reads the event (it waits for an event buffer if none is posted).
    /// Threads: any thread; serialized by the device's lock; not from a device callback.</summary>
    /// <param name="device">The device.</param>
    /// <returns>0; -EBADF.</returns>
    [UnmanagedCallersOnly(EntryPoint = "vsn_device_transport_reset")]
    [CSection(AbiSection.Running, 4)]
    public static int TransportReset(DeviceHandle device)
    {
        const string name = "vsn_device_transport_reset";
        try
        {
            int rc = Abi.Lookup(device, name, out var d);
            return rc != 0 ? rc : Abi.Result(d, name, d.TransportReset(out var why), why);
        }
        catch (Exception e) { return Abi.Crash(name, e); }
    }
}
