namespace VsockNative.EventLoop;

/// <summary>The event loop as the layers above see it: level-triggered interest in fds, each
/// reported with a tag (Firecracker's "poll listener"). Implemented by <see cref="Loop"/> over epoll.</summary>
internal interface IPollRegistry
{
    int Add(int fd, ulong tag, uint events);
    int Modify(int fd, ulong tag, uint events);
    int Remove(int fd);

    /// <summary>Wakes the loop from any thread: its owner looks at what other threads flagged for it
    /// (a sibling link's peer, see Connections/LinkInbox.cs).</summary>
    void Wake();
}
