using System;
using System.Text;

namespace VsockNative.Endpoints;

/// <summary>
/// The first line a host program writes on the hybrid-vsock socket (the convention of Firecracker,
/// Cloud Hypervisor and vhost-device-vsock): <c>CONNECT &lt;port&gt;\n</c>. Read as Firecracker and
/// vhost-device-vsock read it: the line is split into whitespace-separated tokens (blanks, tabs, CR,
/// VT, FF; so leading blanks and a CRLF ending are fine), the first token is the keyword, matched
/// case-insensitively, the second the port, parsed as Rust parses a u32 (decimal digits with an
/// optional leading '+', leading zeros allowed, at most 4294967295), and any further tokens are
/// ignored; the line must be UTF-8. Kept from our own design: the line may arrive split across
/// several writes, it is bounded (a client that sends <see cref="MaxLength"/> bytes without a newline
/// is refused), and bytes after the newline are stream data for the guest: <see cref="Parse"/>
/// reports where the line ended so none is lost.
/// </summary>
internal static class ConnectLine
{
    /// <summary>Longest accepted line, newline included ("CONNECT 4294967295\n" is 19 bytes; blanks allowed).</summary>
    public const int MaxLength = 64;

    public enum Status { NeedMore, Connect, Invalid }

    private const string PortError = "the port must be a decimal number from 0 to 4294967295";

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
        if (!System.Text.Unicode.Utf8.IsValid(line))
        {
            error = "the line is not UTF-8";
            return Status.Invalid;
        }
        var keyword = NextToken(ref line);
        if (keyword.Length != 7 || !EqualsIgnoreCase(keyword, "connect"))
        {
            error = "expected 'CONNECT <port>'";
            return Status.Invalid;
        }
        var digits = NextToken(ref line);
        if (digits.Length == 0)
        {
            error = "expected 'CONNECT <port>'";
            return Status.Invalid;
        }
        if (!TryParseU32(digits, out port, out bool overflow))
        {
            error = overflow ? $"port {Encoding.ASCII.GetString(digits)} is out of range (0 to 4294967295)" : PortError;
            return Status.Invalid;
        }
        return Status.Connect;
    }

    /// <summary>ASCII whitespace as Rust's split_whitespace sees it within ASCII: space, \t, \n, VT, FF, \r.</summary>
    private static bool IsSpace(byte b) => b == (byte)' ' || (b >= 0x09 && b <= 0x0D);

    /// <summary>The next whitespace-separated token of <paramref name="rest"/> (empty at the end); advances past it.</summary>
    private static ReadOnlySpan<byte> NextToken(ref ReadOnlySpan<byte> rest)
    {
        int start = 0;
        while (start < rest.Length && IsSpace(rest[start])) start++;
        int end = start;
        while (end < rest.Length && !IsSpace(rest[end])) end++;
        var token = rest.Slice(start, end - start);
        rest = rest.Slice(end);
        return token;
    }

    /// <summary>Rust's u32::from_str: an optional '+', then one or more ASCII digits, no overflow.</summary>
    private static bool TryParseU32(ReadOnlySpan<byte> s, out uint value, out bool overflow)
    {
        value = 0;
        overflow = false;
        if (s.Length > 0 && s[0] == (byte)'+') s = s.Slice(1);
        if (s.Length == 0) return false;
        ulong v = 0;
        foreach (byte b in s)
        {
            if (b < (byte)'0' || b > (byte)'9') return false;
            v = v * 10 + (ulong)(b - '0');
            if (v > uint.MaxValue)
            {
                overflow = true;  // as Rust: the first error met, reading left to right
                return false;
            }
        }
        value = (uint)v;
        return true;
    }

    private static bool EqualsIgnoreCase(ReadOnlySpan<byte> token, string keyword)
    {
        for (int i = 0; i < keyword.Length; i++)
            if ((token[i] | 0x20) != keyword[i]) return false;
        return true;
    }
}
