using System;
using System.Collections.Generic;
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
