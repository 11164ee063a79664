using System;
using System.Collections.Generic;
using System.IO;
using System.Net.Sockets;

namespace VsockNative.Fuzz;

/// <summary>
/// The host programs beside the device: listeners the guest connects to ("&lt;uds&gt;_1234" stream,
/// "&lt;uds&gt;_1236" seqpacket; port 1235 has none), the connections they accepted, and host programs
/// that connect to the device's own socket with "CONNECT &lt;port&gt;". Each peer reads, writes,
/// half-closes, closes or stalls as the input says. Non-blocking throughout: a run never waits.
/// </summary>
internal sealed class HostPeers : IDisposable
{
    public const uint StreamPort = 1234, NoListenerPort = 1235, SeqpacketPort = 1236;
    private static readonly byte[] Pattern = MakePattern();
    private readonly Socket[] _listeners;
    private readonly List<Socket> _peers = new();
    private readonly byte[] _readBuffer = new byte[1 << 16];

    public HostPeers()
    {
        Directory = SocketDirectory();
        UdsPath = Path.Combine(Directory, "vm.vsock");
        _listeners = new[]
        {
            Listen(UdsPath + "_" + StreamPort, SocketType.Stream),
            Listen(UdsPath + "_" + SeqpacketPort, SocketType.Seqpacket),
        };
    }

    public string Directory { get; }
    public string UdsPath { get; }
    public int Count => _peers.Count;

    /// <summary>Takes every connection the device made to a listener.</summary>
    public void Accept()
    {
        foreach (var l in _listeners)
        {
            while (l.Poll(0, SelectMode.SelectRead))
            {
                try { Add(l.Accept()); }
                catch (SocketException) { break; }
            }
        }
    }

    /// <summary>A host program connects to the device's socket and writes its connect line (or garbage).</summary>
    public void ConnectToDevice(string line)
    {
        var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified) { Blocking = false };
        try
        {
            s.Connect(new UnixDomainSocketEndPoint(UdsPath));
        }
        catch (SocketException)
        {
            s.Dispose();
            return;
        }

        Add(s);
        s.Send(System.Text.Encoding.ASCII.GetBytes(line), SocketFlags.None, out _);
    }

    /// <summary>Peer <paramref name="which"/> (mod the count) does <paramref name="action"/> with <paramref name="amount"/> bytes.</summary>
    public void Act(int which, int action, int amount)
    {
        if (_peers.Count == 0) return;
        int i = which % _peers.Count;
        var s = _peers[i];
        switch (action % 5)
        {
            case 0:
                s.Send(Pattern, 0, Math.Min(amount, Pattern.Length), SocketFlags.None, out _);
                break;
            case 1:
                s.Receive(_readBuffer, 0, Math.Clamp(amount, 1, _readBuffer.Length), SocketFlags.None, out _);
                break;
            case 2:
                try { s.Shutdown(SocketShutdown.Send); } catch (SocketException) { }
                break;
            case 3:
                s.Dispose();
                _peers.RemoveAt(i);
                break;
            default:
                break;  // stalls: neither reads nor writes
        }
    }

    /// <summary>Closes every peer and takes the connections still queued on the listeners (the next input starts clean).</summary>
    public void CloseAll()
    {
        Accept();
        foreach (var s in _peers) s.Dispose();
        _peers.Clear();
    }

    public void Dispose()
    {
        CloseAll();
        foreach (var l in _listeners) l.Dispose();
        try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { }
    }

    private void Add(Socket s)
    {
        s.Blocking = false;
        _peers.Add(s);
    }

    private static Socket Listen(string path, SocketType type)
    {
        var s = new Socket(AddressFamily.Unix, type, ProtocolType.Unspecified);
        s.Bind(new UnixDomainSocketEndPoint(path));
        s.Listen(64);
        s.Blocking = false;
        return s;
    }

    /// <summary>A fresh directory for the sockets, on tmpfs (/dev/shm) where there is one: each device
    /// binds its own sockets there, and binding a socket on ext4 (often /tmp) allocates an inode
    /// through the journal, which cost more than the rest of a run. Its name carries the process id:
    /// afl-fuzz ends its target with SIGKILL, so the directories of processes that are gone are removed here.</summary>
    private static string SocketDirectory()
    {
        const string shm = "/dev/shm", prefix = "vsn-fuzz-";
        if (OperatingSystem.IsLinux() && System.IO.Directory.Exists(shm))
        {
            try
            {
                foreach (var stale in System.IO.Directory.GetDirectories(shm, prefix + "*"))
                {
                    var name = Path.GetFileName(stale.AsSpan())[prefix.Length..];
                    int dash = name.IndexOf('-');
                    if (dash > 0 && int.TryParse(name[..dash], out int pid) && !System.IO.Directory.Exists($"/proc/{pid}"))
                        System.IO.Directory.Delete(stale, recursive: true);
                }

                string path = Path.Combine(shm, $"{prefix}{Environment.ProcessId}-{Path.GetRandomFileName()}");
                return System.IO.Directory.CreateDirectory(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute).FullName;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }

        return System.IO.Directory.CreateTempSubdirectory(prefix).FullName;
    }

    private static byte[] MakePattern()
    {
        var p = new byte[1 << 16];
        for (int i = 0; i < p.Length; i++) p[i] = (byte)(i * 31 + (i >> 8));
        return p;
    }
}
