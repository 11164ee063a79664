using System;

namespace VsockNative.Endpoints;

/// <summary>
/// The first line a host program writes on the hybrid-vsock socket (the convention of Firecracker,
/// Cloud Hypervisor and vhost-device-vsock): <c>CONNECT &lt;port&gt;\n</c>, the keyword matched
/// case-insensitively as Firecracker does, the port a decimal u32. The line is bounded: a client that
/// sends more than <see cref="MaxLength"/> bytes without a newline is refused. Bytes after the newline
/// are stream data for the guest; <see cref="Parse"/> reports where the line ended so none is lost.
/// </summary>
internal static class ConnectLine
{
    /// <summary>Longest accepted line, newline included ("CONNECT 4294967295\n" is 19 bytes; spaces allowed).</summary>
    public const int MaxLength = 64;

    public enum Status { NeedMore, Connect, Invalid }

    /// <summary>Parses the bytes received so far. On <see cref="Status.Connect"/>, <paramref name="lineLength"/>
    /// is the line's length including the newline; what follows belongs to the stream.</summary>
    public static Status Parse(ReadOnlySpan<byte> received, out uint port, out int lineLength, out string error)
    {
        port = 0;
        lineLength = 0;
        error = "";
        int nl = received.IndexOf((byte)'\n');
        if (nl < 0)
        {
            if (received.Length < MaxLength) return Status.NeedMore;
            error = $"no newline in the first {MaxLength} bytes";
            return Status.Invalid;
        }
        if (nl >= MaxLength)
        {
            error = $"line longer than {MaxLength} bytes";
            return Status.Invalid;
        }
        lineLength = nl + 1;
        var line = received.Slice(0, nl);
        if (line.Length > 0 && line[^1] == (byte)'\r') line = line.Slice(0, line.Length - 1);
        const string keyword = "CONNECT";
        if (line.Length < keyword.Length + 2 || !StartsWithIgnoreCase(line, keyword) || line[keyword.Length] != (byte)' ')
        {
            error = "expected 'CONNECT <port>'";
            return Status.Invalid;
        }
        var digits = line.Slice(keyword.Length + 1).Trim((byte)' ');
        if (digits.Length == 0 || digits.Length > 10)
        {
            error = "the port must be a decimal number from 0 to 4294967295";
            return Status.Invalid;
        }
        ulong value = 0;
        foreach (byte b in digits)
        {
            if (b < (byte)'0' || b > (byte)'9')
            {
                error = "the port must be a decimal number from 0 to 4294967295";
                return Status.Invalid;
            }
            value = value * 10 + (ulong)(b - '0');
        }
        if (value > uint.MaxValue)
        {
            error = $"port {value} is out of range (0 to 4294967295)";
            return Status.Invalid;
        }
        port = (uint)value;
        return Status.Connect;
    }

    private static bool StartsWithIgnoreCase(ReadOnlySpan<byte> line, string keyword)
    {
        for (int i = 0; i < keyword.Length; i++)
            if ((line[i] | 0x20) != (keyword[i] | 0x20)) return false;
        return true;
    }
}
