using System;
using System.Collections.Generic;
using System.Linq;
using System.Net.Sockets;
using VsockNative.Fuzz;
using Xunit;

namespace VsockNative.Tests.Fuzz;

/// <summary>The fuzz harness's own checks catch what they claim to (a checker that cannot fail finds nothing).</summary>
[Collection(ManagedFuzzCollection.Name)]
public sealed class HarnessCheckTests : IDisposable
{
    private readonly GuestRam _ram = new();
    private readonly GuestQueue _q;

    public HarnessCheckTests()
    {
        _q = new GuestQueue(_ram, 0, 8, eventIdx: false) { Live = true };
        _q.WriteDesc(0, GuestRam.HeapGpa + 0x100, 64, 2 /* WRITE */, 0);
        _q.Publish(0);
        _ram.Commit();
    }

    private List<ulong> Changed()
    {
        var changed = new List<ulong>();
        _ram.Diff(changed.Add);
        return changed;
    }

    [Fact]
    public void A_write_inside_a_writable_buffer_the_device_holds_is_allowed_and_one_beside_it_is_not()
    {
        _ram.Span(GuestRam.HeapGpa + 0x100, 64).Fill(1);
        _ram.Span(GuestRam.HeapGpa + 0x140, 1).Fill(1);
        var changed = Changed();
        Assert.Equal(65, changed.Count);
        Assert.All(changed.GetRange(0, 64), gpa => Assert.True(_q.MayWrite(gpa)));
        Assert.False(_q.MayWrite(GuestRam.HeapGpa + 0x140));
    }

    [Fact]
    public void A_changed_canary_at_the_end_of_a_region_is_seen_and_not_writable()
    {
        _ram.Span(GuestRam.HeapGpa + GuestRam.HeapSize - 1, 1).Fill(0);
        Assert.Equal(new[] { GuestRam.HeapGpa + GuestRam.HeapSize - 1 }, Changed());
        Assert.False(_q.MayWrite(GuestRam.HeapGpa + GuestRam.HeapSize - 1));
    }

    [Fact]
    public void A_guest_write_committed_before_the_device_runs_is_not_a_device_write_and_a_later_write_beside_it_is()
    {
        _ram.W32(GuestRam.HeapGpa + 0x200, 7);
        _ram.Commit();
        Assert.Empty(Changed());
        _ram.Span(GuestRam.HeapGpa + 0x204, 1).Fill(9);
        Assert.Equal(new[] { GuestRam.HeapGpa + 0x204 }, Changed());
    }

    [Fact]
    public void A_guest_write_not_committed_counts_as_the_devices()
    {
        _ram.W16(GuestRam.RingGpa + 0x3000, 1);
        Assert.Equal(new[] { GuestRam.RingGpa + 0x3000, GuestRam.RingGpa + 0x3001 }, Changed());
    }

    [Fact]
    public void Reset_gives_the_next_input_the_bytes_of_a_fresh_allocation()
    {
        _ram.Span(GuestRam.HeapGpa, 16).Fill(1);
        _ram.Commit();
        _ram.Reset();
        Assert.Empty(Changed());
        var bytes = new byte[(int)GuestRam.HeapSize];
        _ram.Read(GuestRam.HeapGpa, bytes);
        Assert.All(bytes, b => Assert.Equal(GuestRam.Canary, b));
        Assert.Equal(GuestRam.Canary, _ram.U16(GuestRam.RingGpa) & 0xff);
    }

    [Fact]
    public void A_read_across_the_end_of_a_region_reads_zeros_past_it()
    {
        _ram.Span(GuestRam.HeapGpa + GuestRam.HeapSize - 2, 2).Fill(3);
        var bytes = new byte[4];
        _ram.Read(GuestRam.HeapGpa + GuestRam.HeapSize - 2, bytes);
        Assert.Equal(new byte[] { 3, 3, 0, 0 }, bytes);
    }

    [Fact]
    public void A_socket_left_open_after_an_input_is_a_violation()
    {
        using var harness = new Harness();
        var (_, seed) = Seeds.All().First();
        harness.Run(seed);
        var e = Record.Exception(() =>
        {
            using var leaked = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            harness.Run(seed);
        });
        Assert.Contains("left open", Assert.IsType<InvariantViolation>(e).Message);
        harness.Run(seed);  // closed again: the next input is clean
    }

    [Theory]
    [InlineData(false)]  // one fstat: the size of /proc/self/fd (Linux 6.2+)
    [InlineData(true)]   // the readdir fallback
    public void The_fd_count_sees_a_socket_opened_and_closed(bool readdir)
    {
        using var fds = new OpenFds(readdir);
        int before = fds.Count();
        int open;
        using (new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
            open = fds.Count();
        Assert.True(open > before, $"{before} fds, {open} with a socket more");
        Assert.True(fds.Count() < open, $"{open} fds with the socket, still {fds.Count()} after it closed");
    }

    [Fact]
    public void A_used_entry_for_a_head_never_made_available_is_a_violation()
    {
        PutUsed(0, id: 3, len: 0);
        Assert.Throws<InvariantViolation>(() => Take());
    }

    [Fact]
    public void A_head_returned_twice_is_a_violation()
    {
        PutUsed(0, id: 0, len: 10);
        Take();
        PutUsed(1, id: 0, len: 10);
        Assert.Throws<InvariantViolation>(() => Take());
    }

    [Fact]
    public void A_used_len_beyond_the_chains_writable_bytes_is_a_violation()
    {
        PutUsed(0, id: 0, len: 65);
        Assert.Throws<InvariantViolation>(() => Take());
    }

    [Fact]
    public void A_well_formed_return_passes()
    {
        PutUsed(0, id: 0, len: 64);
        Assert.Equal(1, Take());
        Assert.Equal(0, _q.Outstanding);
    }

    private void PutUsed(ushort at, uint id, uint len)
    {
        _ram.W32(_q.UsedGpa + 4 + 8ul * at, id);
        _ram.W32(_q.UsedGpa + 8 + 8ul * at, len);
        _ram.W16(_q.UsedGpa + 2, (ushort)(at + 1));
    }

    private int Take()
    {
        int n = 0;
        foreach (var _ in _q.TakeUsed(why => throw new InvariantViolation(why))) n++;
        return n;
    }

    public void Dispose() => _ram.Dispose();
}
