using System;
using System.Collections.Generic;
using System.Linq;
using VsockNative.Protocol;
using VsockNative.Wire;
using Xunit;

namespace VsockNative.Tests.Protocol;

/// <summary>SEQPACKET connections (BEHAVIOUR.md, "Seqpacket"): the stream machine and credit, plus
/// message boundaries both ways.</summary>
public class SeqpacketTests
{
    private const uint Eom = (uint)VirtioVsockRw.Eom, Eor = (uint)VirtioVsockRw.Eor;

    [Fact]
    public void A_message_in_one_packet_is_one_host_message_and_frees_its_credit_at_once()
    {
        using GuestSim g = GuestSim.Seqpacket();
        byte[] m = TestPattern.ToArray(0, 1000);
        g.SendPiece(m, Eom);
        (byte[] data, bool eor) = Assert.Single(g.Messages.Sent);
        Assert.Equal(m, data);
        Assert.False(eor);
        Assert.Equal(1000u, g.Conn.FwdCnt);
        Assert.Equal(1ul, g.Conn.Counters.MessagesToHost);
        Assert.Equal(0, g.Conn.BufferedToHost); // straight from guest memory
        Assert.Equal(0, g.Host.ReceivedCount);  // never through the stream write
    }

    [Fact]
    public void Pieces_are_gathered_until_eom_and_credit_moves_only_when_the_host_took_the_message()
    {
        using GuestSim g = GuestSim.Seqpacket();
        byte[] m = TestPattern.ToArray(5, 10_000);
        g.SendPiece(m.AsSpan(0, 4000), 0);
        g.SendPiece(m.AsSpan(4000, 1), 0);
        Assert.Empty(g.Messages.Sent);
        Assert.Equal(0u, g.Conn.FwdCnt);
        Assert.False(g.Conn.WantsHostWrite); // an unfinished message waits for the guest, not the host
        g.SendPiece(m.AsSpan(4001), Eom);
        (byte[] data, _) = Assert.Single(g.Messages.Sent);
        Assert.Equal(m, data);
        Assert.Equal(10_000u, g.Conn.FwdCnt);
        Assert.Equal(0, g.Conn.BufferedToHost);
        Assert.False(g.Conn.HoldsTxArray);
    }

    [Fact]
    public void Eor_becomes_msg_eor_and_a_host_record_end_becomes_eor_on_the_last_packet()
    {
        using GuestSim g = GuestSim.Seqpacket();
        g.SendPiece(new byte[] { 1, 2 }, Eom | Eor);
        g.SendPiece(new byte[] { 3 }, 0);
        g.SendPiece(new byte[] { 4 }, Eom | Eor); // EOR on a gathered message
        g.SendPiece(new byte[] { 5 }, Eom);
        Assert.Equal(new[] { true, true, false }, g.Messages.Sent.Select(s => s.Eor));
        Assert.Equal(2ul, g.Conn.Counters.RecordEndsToHost);

        g.Messages.Inbound.Enqueue((TestPattern.ToArray(0, 5000), true));
        g.Messages.Inbound.Enqueue((new byte[] { 7 }, false));
        g.Conn.OnHostReadable(g.Now);
        List<Received> got = g.ReceiveAll();
        Assert.Equal(new uint[] { 4096, 904, 1 }, got.Select(r => r.Header.Len));
        Assert.Equal(new uint[] { 0, Eom | Eor, Eom }, got.Select(r => r.Header.Flags));
        Assert.Equal(1ul, g.Conn.Counters.RecordEndsToGuest);
    }

    [Fact]
    public void A_host_message_is_split_at_the_rx_buffer_size_with_eom_on_the_last_piece_only()
    {
        using GuestSim g = GuestSim.Seqpacket();
        byte[] m = TestPattern.ToArray(77, 10_000);
        g.Messages.Inbound.Enqueue((m, false));
        g.Conn.OnHostReadable(g.Now);
        var pieces = new List<Received>();
        int[][] layouts = { new[] { 10 }, new[] { 44, 100 }, Array.Empty<int>() }; // headers split anywhere
        foreach (int[] cuts in layouts)
            pieces.Add(g.Receive(4096 + 44, cuts)!);
        Assert.Equal(new uint[] { 4096, 4096, 1808 }, pieces.Select(r => r.Header.Len));
        Assert.Equal(new uint[] { 0, 0, Eom }, pieces.Select(r => r.Header.Flags));
        Assert.All(pieces, r => Assert.Equal((ushort)VirtioVsockType.Seqpacket, r.Header.Type));
        Assert.Equal(m, pieces.SelectMany(r => r.Payload).ToArray());
        Assert.False(g.Conn.HoldsH2gArray); // the rest buffer is returned with the last piece
        Assert.Equal(1ul, g.Conn.Counters.MessagesToGuest);
    }

    [Fact]
    public void A_host_stream_that_gives_a_message_in_pieces_is_read_piece_by_piece_without_the_rest_buffer()
    {
        var host = new FakeHostPieces();
        using GuestSim g = GuestSim.Seqpacket(host: host);
        byte[] m = TestPattern.ToArray(77, 10_000);
        host.Inbound.Enqueue((m, true));
        host.Inbound.Enqueue((Array.Empty<byte>(), false));
        g.Conn.OnHostReadable(g.Now);
        var pieces = new List<Received>();
        for (int i = 0; i < 4; i++)
        {
            pieces.Add(g.Receive(4096 + 44)!);
            Assert.False(g.Conn.HoldsH2gArray); // the rest stays in the host stream: no copy in between
        }
        Assert.Equal(new uint[] { 4096, 4096, 1808, 0 }, pieces.Select(r => r.Header.Len));
        Assert.Equal(new uint[] { 0, 0, Eom | Eor, Eom }, pieces.Select(r => r.Header.Flags));
        Assert.Equal(m, pieces.Take(3).SelectMany(r => r.Payload).ToArray());
        Assert.Equal(4, host.PiecesRead);
        Assert.Equal(2ul, g.Conn.Counters.MessagesToGuest);
    }

    [Fact]
    public void Host_messages_keep_their_boundaries_even_when_one_rx_buffer_could_hold_several()
    {
        using GuestSim g = GuestSim.Seqpacket();
        g.Messages.Inbound.Enqueue((new byte[] { 1, 2, 3 }, false));
        g.Messages.Inbound.Enqueue((new byte[] { 4, 5, 6, 7, 8 }, false));
        g.Messages.Inbound.Enqueue((Array.Empty<byte>(), false)); // an empty message is a message
        g.Conn.OnHostReadable(g.Now);
        List<Received> got = g.ReceiveAll(65536);
        Assert.Equal(new uint[] { 3, 5, 0 }, got.Select(r => r.Header.Len));
        Assert.All(got, r => Assert.Equal(Eom, r.Header.Flags));
        Assert.Equal(new byte[] { 4, 5, 6, 7, 8 }, got[1].Payload);
    }

    [Fact]
    public void A_message_is_sent_within_the_guests_credit_and_continues_when_credit_comes_back()
    {
        using GuestSim g = GuestSim.Seqpacket(bufAlloc: 8192);
        g.AutoConsume = false;
        g.Messages.Inbound.Enqueue((TestPattern.ToArray(0, 6000), false));
        g.Messages.Inbound.Enqueue((TestPattern.ToArray(6000, 6000), false));
        g.Conn.OnHostReadable(g.Now);
        List<Received> all = g.ReceiveAll(65536);
        List<Received> first = all.Where(r => r.Op == VirtioVsockOp.Rw).ToList();
        // 6000 + the first 2192 bytes of the second message; no packet beyond the credit
        Assert.Equal(new uint[] { 6000, 2192 }, first.Select(r => r.Header.Len));
        Assert.Equal(new uint[] { Eom, 0 }, first.Select(r => r.Header.Flags));
        Assert.Equal(VirtioVsockOp.CreditRequest, all[^1].Op); // the rest waits for credit
        Assert.Equal(0u, g.Conn.PeerFree);
        Assert.Null(g.Receive(65536));
        g.Log.Clear();
        g.Consume(6000); // the guest application read the first message
        g.Send(VirtioVsockOp.CreditUpdate);
        List<Received> rest = g.ReceiveAll(65536).Where(r => r.Op == VirtioVsockOp.Rw).ToList();
        Assert.Equal(new uint[] { 3808 }, rest.Select(r => r.Header.Len));
        Assert.Equal(Eom, rest[0].Header.Flags);
        Assert.Equal(TestPattern.ToArray(6000, 6000), first[1].Payload.Concat(rest[0].Payload).ToArray());
    }

    [Fact]
    public void Messages_wait_in_order_while_the_host_would_block()
    {
        using GuestSim g = GuestSim.Seqpacket();
        g.Messages.Blocked = true;
        g.SendPiece(new byte[] { 1 }, Eom);
        g.SendPiece(new byte[] { 2, 2 }, 0);
        g.SendPiece(new byte[] { 2 }, Eom | Eor);
        g.SendPiece(Array.Empty<byte>(), Eom);
        g.SendPiece(new byte[] { 4 }, 0); // unfinished: stays behind
        Assert.Empty(g.Messages.Sent);
        Assert.True(g.Conn.WantsHostWrite);
        Assert.Equal(0u, g.Conn.FwdCnt);
        g.Messages.Blocked = false;
        g.Conn.OnHostWritable(g.Now);
        Assert.Equal(new[] { "01", "020202", "" }, g.Messages.Sent.Select(s => Convert.ToHexString(s.Data)));
        Assert.Equal(new[] { false, true, false }, g.Messages.Sent.Select(s => s.Eor));
        Assert.Equal(4u, g.Conn.FwdCnt);
        Assert.False(g.Conn.WantsHostWrite);
        g.SendPiece(new byte[] { 5 }, Eom);
        Assert.Equal("0405", Convert.ToHexString(g.Messages.Sent[^1].Data));
    }

    [Fact]
    public void A_guest_message_larger_than_buf_alloc_resets_and_counts()
    {
        using GuestSim g = GuestSim.Seqpacket(new ConnectionLimits { BufAlloc = 1024 });
        g.SendPiece(new byte[1000], 0);
        Assert.Equal(ConnState.Established, g.Conn.State);
        g.SendPiece(new byte[25], Eom); // 1025 > buf_alloc
        Assert.Equal(1ul, g.Conn.Counters.OversizeMessages);
        Assert.Equal(0ul, g.Conn.Counters.CreditViolations); // the more specific cause is counted
        Assert.Equal(EndReason.OversizeMessage, g.Conn.EndReason);
        Assert.True(g.Host.Closed);
        Assert.Empty(g.Messages.Sent);
        Assert.Equal(VirtioVsockOp.Rst, g.Receive()!.Op);
    }

    [Fact]
    public void A_message_of_exactly_buf_alloc_is_delivered()
    {
        using GuestSim g = GuestSim.Seqpacket(new ConnectionLimits { BufAlloc = 1024 });
        g.SendPiece(TestPattern.ToArray(0, 1000), 0);
        g.SendPiece(TestPattern.ToArray(1000, 24), Eom);
        Assert.Equal(TestPattern.ToArray(0, 1024), Assert.Single(g.Messages.Sent).Data);
    }

    [Fact]
    public void A_message_the_host_socket_refuses_as_too_large_resets_and_counts()
    {
        using GuestSim g = GuestSim.Seqpacket(host: new FakeHostMessages { MaxMessage = 100 });
        g.SendPiece(new byte[100], Eom);
        g.SendPiece(new byte[101], Eom);
        Assert.Single(g.Messages.Sent);
        Assert.Equal(1ul, g.Conn.Counters.OversizeMessages);
        Assert.Equal(EndReason.OversizeMessage, g.Conn.EndReason);
        Assert.Equal(VirtioVsockOp.Rst, g.Receive()!.Op);
    }

    [Theory]
    [InlineData(300_000u, 256u * 1024)] // beyond the guest's buf_alloc (it could never hold it whole)
    [InlineData(2000u, 1024u)]          // beyond the device's own buf_alloc (the bound of its buffer)
    public void A_host_message_the_guest_could_never_hold_whole_resets_and_counts(uint size, uint deviceBufAlloc)
    {
        using GuestSim g = GuestSim.Seqpacket(new ConnectionLimits { BufAlloc = deviceBufAlloc });
        g.Messages.Inbound.Enqueue((new byte[size], false));
        g.Conn.OnHostReadable(g.Now);
        Assert.Equal(VirtioVsockOp.Rst, g.Receive()!.Op);
        Assert.Equal(1ul, g.Conn.Counters.OversizeMessages);
        Assert.Equal(0ul, g.Conn.Counters.DataPacketsToGuest);
        Assert.True(g.Host.Closed);
    }

    [Fact]
    public void Empty_messages_go_both_ways()
    {
        using GuestSim g = GuestSim.Seqpacket();
        g.SendPiece(Array.Empty<byte>(), Eom);
        Assert.Empty(Assert.Single(g.Messages.Sent).Data);
        g.Messages.Inbound.Enqueue((Array.Empty<byte>(), true));
        g.Conn.OnHostReadable(g.Now);
        Received r = g.Receive()!;
        Assert.Equal(VirtioVsockOp.Rw, r.Op);
        Assert.Equal(0u, r.Header.Len);
        Assert.Equal(Eom | Eor, r.Header.Flags);
    }

    [Fact]
    public void Guest_shutdown_send_in_the_middle_of_a_message_drops_it_and_shuts_the_host_write_side()
    {
        using GuestSim g = GuestSim.Seqpacket();
        g.SendPiece(new byte[] { 1 }, Eom);
        g.SendPiece(new byte[300], 0);
        g.Send(VirtioVsockOp.Shutdown, (uint)VirtioVsockShutdown.Send);
        Assert.Single(g.Messages.Sent);
        Assert.Equal(300ul, g.Conn.Counters.BytesDropped);
        Assert.Equal(301u, g.Conn.FwdCnt); // dropped bytes still free their credit
        Assert.True(g.Host.ShutWrite);
        Assert.False(g.Conn.HoldsTxArray);
    }

    [Fact]
    public void Host_end_of_stream_gives_shutdown_send_after_the_last_message()
    {
        using GuestSim g = GuestSim.Seqpacket();
        g.Messages.Inbound.Enqueue((new byte[] { 9 }, false));
        g.Messages.InboundEof = true;
        g.Conn.OnHostReadable(g.Now);
        List<Received> got = g.ReceiveAll();
        Assert.Equal(new[] { VirtioVsockOp.Rw, VirtioVsockOp.Shutdown }, got.Select(r => r.Op));
        Assert.Equal((uint)VirtioVsockShutdown.Send, got[1].Header.Flags);
    }

    [Fact]
    public void Too_many_messages_waiting_for_a_blocked_host_reset_and_count()
    {
        using GuestSim g = GuestSim.Seqpacket();
        g.Messages.Blocked = true;
        for (int i = 0; i < MessageQueue.Capacity; i++)
            g.SendPiece(Array.Empty<byte>(), Eom); // empty messages cost no credit
        Assert.Equal(ConnState.Established, g.Conn.State);
        g.SendPiece(Array.Empty<byte>(), Eom);
        Assert.Equal(1ul, g.Conn.Counters.MessageQueueOverflows);
        Assert.Equal(EndReason.MessageQueueOverflow, g.Conn.EndReason);
    }

    [Theory]
    [InlineData((ushort)VirtioVsockType.Stream, Eom)] // a stream packet on a seqpacket connection
    [InlineData((ushort)VirtioVsockType.Seqpacket, 4u)] // RW flag bit 2 is not defined
    public void A_packet_of_another_type_or_with_undefined_rw_flags_resets(ushort type, uint flags)
    {
        using GuestSim g = GuestSim.Seqpacket();
        var payload = g.Memory.From(new byte[] { 1 });
        g.SendRaw(g.Header(VirtioVsockOp.Rw, 1, flags, type), payload);
        Assert.Equal(ConnState.Resetting, g.Conn.State);
        Assert.Empty(g.Messages.Sent);
        Assert.Equal(1ul, g.Conn.Counters.Malformed);
    }

    [Fact]
    public void A_host_initiated_seqpacket_connection_sends_its_packets_as_seqpacket()
    {
        var host = new FakeHostMessages();
        Connection c = Connection.ConnectToGuestSeqpacket(GuestSim.Key, host, ConnectionLimits.Default, 0);
        Assert.Equal(VirtioVsockType.Seqpacket, c.Type);
        using var mem = new NativeBuffers();
        IoVec[] rx = mem.Split(100);
        Assert.Equal(44u, c.FillRx(rx, 0));
        PacketHeader h = PacketHeader.Read(rx);
        Assert.Equal((ushort)VirtioVsockOp.Request, h.Op);
        Assert.Equal((ushort)VirtioVsockType.Seqpacket, h.Type);
    }
}
