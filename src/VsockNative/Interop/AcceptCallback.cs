using VsockNative.Connections;

namespace VsockNative.Interop;

/// <summary>Called on the device's event loop, outside the device's lock (it may call any vsn_
/// function, on any device), when the guest connects to a port the program listens on: <c>fd</c> is
/// the program's end of the new connection (non-blocking, close-on-exec; the program owns it).
/// <c>port</c> is the host port, <c>guest_port</c> the guest's.</summary>
[CSection(AbiSection.FdApi, 1)]
[CCallback("vsn_accept_fn", "user", "port", "guest_port", "fd")]
internal unsafe struct AcceptCallback
{
    public delegate* unmanaged<void*, uint, uint, int, void> Fn;
}

/// <summary>A C listener (vsn_accept_fn and its user pointer) as the connection layer sees it.</summary>
internal sealed unsafe class CAcceptListener : IFdListener
{
    private readonly AcceptCallback _fn;
    private readonly nint _user;

    public CAcceptListener(AcceptCallback fn, nint user) { _fn = fn; _user = user; }

    public void Accept(uint port, uint guestPort, int fd) => _fn.Fn((void*)_user, port, guestPort, fd);
}
