using System.Text;
using VsockNative.Endpoints;
using Xunit;

namespace VsockNative.Tests.Endpoints;

public class ConnectLineTests
{
    private static ConnectLine.Status Parse(string s, out uint port, out int length, out string error) =>
        ConnectLine.Parse(Encoding.ASCII.GetBytes(s), out port, out length, out error);

    [Theory]
    [InlineData("CONNECT 1234\n", 1234u, 13)]
    [InlineData("connect 52\n", 52u, 11)]             // keyword is case-insensitive, as in Firecracker
    [InlineData("Connect 0\n", 0u, 10)]
    [InlineData("CONNECT 4294967295\n", 4294967295u, 19)]
    [InlineData("CONNECT 80\r\n", 80u, 12)]           // a CRLF line ending from a telnet-style client
    [InlineData("CONNECT  7 \n", 7u, 12)]             // extra spaces around the port
    [InlineData("  CONNECT 9\n", 9u, 12)]             // leading blanks, as split_whitespace skips them
    [InlineData("\t\tconnect\t10\n", 10u, 13)]      // tabs between and before the tokens
    [InlineData("CoNnEcT 11\n", 11u, 11)]             // any mix of cases
    [InlineData("CONNECT +5000\n", 5000u, 14)]        // a leading '+', as Rust's u32 parsing takes it
    [InlineData("CONNECT 0005000\n", 5000u, 16)]      // leading zeros
    [InlineData("CONNECT 000000000004294967295\n", 4294967295u, 30)]  // long only because of zeros
    [InlineData("CONNECT 1234 extra tokens\n", 1234u, 26)]  // trailing tokens ignored, as Firecracker does
    [InlineData("CONNECT 1234\v\f\r\n", 1234u, 16)]  // VT, FF, CR are whitespace too
    public void A_valid_line_gives_the_port_and_the_line_length(string line, uint port, int length)
    {
        Assert.Equal(ConnectLine.Status.Connect, Parse(line, out var p, out var n, out _));
        Assert.Equal(port, p);
        Assert.Equal(length, n);
    }

    [Fact]
    public void Bytes_after_the_newline_are_not_part_of_the_line()
    {
        // the client pipelines stream data right behind the CONNECT line: it must reach the guest
        Assert.Equal(ConnectLine.Status.Connect, Parse("CONNECT 5000\nhello guest", out var port, out var n, out _));
        Assert.Equal(5000u, port);
        Assert.Equal("CONNECT 5000\n".Length, n);
    }

    [Theory]
    [InlineData("")]
    [InlineData("CONN")]
    [InlineData("CONNECT 12")]
    public void An_unfinished_line_needs_more(string partial) =>
        Assert.Equal(ConnectLine.Status.NeedMore, Parse(partial, out _, out _, out _));

    [Theory]
    [InlineData("CONNECT 4294967296\n", "out of range")]      // one past u32
    [InlineData("CONNECT 99999999999\n", "out of range")]      // eleven digits
    [InlineData("CONNECT +\n", "decimal number")]              // a sign without digits
    [InlineData("CONNECT ++5\n", "decimal number")]            // two signs
    [InlineData("CONNECT +-5\n", "decimal number")]
    [InlineData("CONNECT 0x10\n", "decimal number")]           // no hex
    [InlineData("CONNECT5000\n", "expected 'CONNECT <port>'")] // keyword glued to the port
    [InlineData("\n", "expected 'CONNECT <port>'")]             // an empty line
    [InlineData("   \t\n", "expected 'CONNECT <port>'")]        // blanks only
    [InlineData("PORT CONNECT 5\n", "expected 'CONNECT <port>'")] // the keyword must come first
    [InlineData("CONNECT -1\n", "decimal number")]             // negative
    [InlineData("CONNECT 12a\n", "decimal number")]            // not a number
    [InlineData("CONNECT\n", "expected 'CONNECT <port>'")]     // no port
    [InlineData("CONNECTX 1\n", "expected 'CONNECT <port>'")]  // keyword glued to junk
    [InlineData("GET / HTTP/1.1\n", "expected 'CONNECT <port>'")] // some other protocol
    [InlineData("CONNECT \n", "expected 'CONNECT <port>'")]  // port missing after the space
    public void A_bad_line_is_invalid_with_a_reason(string line, string reason)
    {
        Assert.Equal(ConnectLine.Status.Invalid, Parse(line, out _, out _, out var error));
        Assert.Contains(reason, error);
    }

    [Fact]
    public void A_line_that_is_not_utf8_is_invalid_even_after_the_port()
    {
        // vhost-device-vsock reads the line as UTF-8 before splitting it
        var line = new byte[] { (byte)'C', (byte)'O', (byte)'N', (byte)'N', (byte)'E', (byte)'C', (byte)'T', (byte)' ', (byte)'5', (byte)' ', 0xff, (byte)'\n' };
        Assert.Equal(ConnectLine.Status.Invalid, ConnectLine.Parse(line, out _, out _, out var error));
        Assert.Contains("UTF-8", error);
    }

    [Fact]
    public void Leading_blanks_and_pipelined_data_split_across_writes_are_kept_apart()
    {
        // the handshake buffer grows write by write: a partial line with leading blanks needs more,
        // then the whole line connects and the data behind it stays outside the line
        Assert.Equal(ConnectLine.Status.NeedMore, Parse(" \tconn", out _, out _, out _));
        Assert.Equal(ConnectLine.Status.NeedMore, Parse(" \tconnect +4", out _, out _, out _));
        Assert.Equal(ConnectLine.Status.Connect, Parse(" \tconnect +42 x\nDATA", out var port, out var n, out _));
        Assert.Equal(42u, port);
        Assert.Equal(" \tconnect +42 x\n".Length, n);
    }

    [Fact]
    public void Garbage_without_a_newline_is_refused_once_the_bound_is_reached()
    {
        Assert.Equal(ConnectLine.Status.NeedMore, Parse(new string('x', ConnectLine.MaxLength - 1), out _, out _, out _));
        Assert.Equal(ConnectLine.Status.Invalid, Parse(new string('x', ConnectLine.MaxLength), out _, out _, out var error));
        Assert.Contains("no newline", error);
    }

    [Fact]
    public void Allocated_host_ports_stay_in_the_firecracker_range_and_skip_used_ones()
    {
        var alloc = new HostPortAllocator();
        Assert.True(alloc.TryAllocate(p => false, out var first));
        Assert.Equal(1u << 30, first);
        Assert.True(alloc.TryAllocate(p => p == (1u << 30) + 1, out var second));
        Assert.Equal((1u << 30) + 2, second);
    }

    [Fact]
    public void Allocation_wraps_from_the_top_of_the_range_to_its_bottom_and_never_leaves_it()
    {
        var alloc = new HostPortAllocator(HostPortAllocator.End - 2);
        var seen = new System.Collections.Generic.List<uint>();
        for (int i = 0; i < 4; i++)
        {
            // the bottom port is taken: the wrap must skip it too
            Assert.True(alloc.TryAllocate(p => p == HostPortAllocator.First, out var port));
            seen.Add(port);
        }
        Assert.Equal(new[] { (1u << 31) - 2, (1u << 31) - 1, (1u << 30) + 1, (1u << 30) + 2 }, seen);
        Assert.Throws<System.ArgumentOutOfRangeException>(() => new HostPortAllocator(HostPortAllocator.End));
    }
}
