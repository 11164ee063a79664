using System.Collections.Generic;
using VsockNative.EventLoop;
using VsockNative.Connections;

namespace VsockNative.Tests.Connections;

/// <summary>Records the interest the connection layer asks for, per fd.</summary>
internal sealed class FakePoll : IPollRegistry
{
    public readonly Dictionary<int, (ulong Tag, uint Events)> Fds = new();

    public int Add(int fd, ulong tag, uint events) { Fds[fd] = (tag, events); return 0; }
    public int Modify(int fd, ulong tag, uint events) { Fds[fd] = (tag, events); return 0; }
    public int Remove(int fd) { Fds.Remove(fd); return 0; }
    public void Wake() { }
}
