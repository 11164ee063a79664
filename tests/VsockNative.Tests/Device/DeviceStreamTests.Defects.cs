using System;
using System.Collections.Generic;
using System.Linq;
using System.Net.Sockets;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using VsockNative.Device;
using VsockNative.EventLoop;
using VsockNative.Interop;
using VsockNative.Tests.Virtqueue;
using VsockNative.Virtqueue;
using VsockNative.Wire;
using Xunit;
using VsockNative.Diagnostics;
using VsockNative.Interop.Native;

namespace VsockNative.Tests.Device;

// Regression tests for device defects found in review: each test says what is wrong and what the
// device must do. They use the same whole-device rig as DeviceStreamTests (manual poll, mock guest
// driver on real rings, real Unix sockets on the host side).
public sealed unsafe partial class DeviceStreamTests
{
    /// <summary>Uses up the 16 rx buffers the constructor posted (16 RSTs for packets to no
    /// connection) and stops reposting, so a test decides exactly which rx chains come next.</summary>
    private void UseUpInitialRxBuffers()
    {
        _repostRx = false;
        for (uint i = 0; i < 16; i++) Send(VirtioVsockOp.Rw, 30000 + i, 999, new byte[] { 1 });
        Poll();
        Assert.Equal(16, _received.Count);
        Assert.Equal(16, _rx.UsedIdx);
        Assert.Equal(_rx.AvailIdx, _rx.UsedIdx);
        _received.Clear();
    }

    /// <summary>Like <see cref="Send"/>, with every header field the tests below need to set.</summary>
    private void SendPacket(VirtioVsockOp op, uint srcPort, uint dstPort, ReadOnlySpan<byte> payload = default,
        ushort type = (ushort)VirtioVsockType.Stream, uint bufAlloc = 1 << 20, uint fwdCnt = 0)
    {
        QueueTx(op, srcPort, dstPort, payload, type, bufAlloc, fwdCnt);
        Poll();
    }

    /// <summary>Makes a guest packet available on the tx queue, without kicking or polling.</summary>
    private void QueueTx(VirtioVsockOp op, uint srcPort, uint dstPort, ReadOnlySpan<byte> payload = default,
        ushort type = (ushort)VirtioVsockType.Stream, uint bufAlloc = 1 << 20, uint fwdCnt = 0)
    {
        var packet = new byte[VirtioVsockHdr.Size + payload.Length];
        var h = new VirtioVsockHdr(packet)
        {
            SrcCid = GuestCid, DstCid = 2, SrcPort = srcPort, DstPort = dstPort, Len = (uint)payload.Length,
            Type = type, Op = (ushort)op, Flags = 0, BufAlloc = bufAlloc, FwdCnt = fwdCnt,
        };
        payload.CopyTo(packet.AsSpan(VirtioVsockHdr.Size));
        _tx.AddChain(new[] { _tx.AddData(packet) });
    }

    private QueueCounters RxCounters()
    {
        Assert.Equal(0, _device.GetQueueCounters(QueueIndex.Rx, out var c, out var why));
        return c;
    }

    /// <summary>The ops of the packets waiting in <see cref="_received"/> (for failure messages).</summary>
    private string ReceivedOps() => string.Join(", ", _received.Select(p =>
        p.Length >= VirtioVsockHdr.Size ? ((VirtioVsockOp)new VirtioVsockHdr(p).Op).ToString() : $"{p.Length}-byte buffer"));

    private static ushort ReadAvailEntry(MockSplitQueue q, ushort i) => q.Memory.ReadU16(q.AvailGpa + 4 + 2ul * (ulong)(i % q.Size));

    // ---- Defect 1: a short rx chain at the head wedges the rx queue ------------------------------

    /// <summary>Regression (device-core issue; the device did this before the fix): an rx chain with fewer writable bytes than a packet header (44) is popped,
    /// gets nothing (FillRx returns 0) and is *held* for the next packet; the next packet needs a
    /// header too, so the chain is held for ever and every buffer behind it waits: the rx queue is
    /// wedged (here the guest's REQUEST never gets its RESPONSE). Nothing is counted either.
    /// The device must return such a chain on the used ring with len 0 at once, count it
    /// (UnusableTooSmall, UnusableChains), and carry its packets in the good buffers behind it.</summary>
    [Fact]
    public void A_short_rx_chain_at_the_head_is_returned_unused_counted_and_the_buffers_behind_it_are_used()
    {
        using var listener = ListenAt1234();
        UseUpInitialRxBuffers();
        ushort usedBefore = _rx.UsedIdx;
        ushort small = _rx.AddChain(new[] { _rx.AddWritable(20) });
        PostRx();
        PostRx();

        Send(VirtioVsockOp.Request, 5000, 1234);
        Poll();
        var c = RxCounters();
        Assert.True(_rx.UsedIdx != usedBefore,
            $"the 20-byte rx chain (id {small}) was neither used nor returned: the rx queue is wedged behind it " +
            $"(rx used idx {_rx.UsedIdx}, UnusableChains {c.UnusableChains}, UnusableTooSmall {c.UnusableTooSmall})");
        var (id, len) = _rx.UsedElem(usedBefore);
        Assert.Equal(small, (ushort)id);
        Assert.Equal(0u, len);
        Assert.Equal(1UL, c.UnusableTooSmall);
        Assert.Equal(1UL, c.UnusableChains);
        Assert.Empty(_received.Dequeue());

        // the good buffer behind it carries the RESPONSE, and the connection works
        var response = new VirtioVsockHdr(Expect(VirtioVsockOp.Response));
        Assert.Equal(5000u, response.DstPort);
        using var host = listener.Accept();
        host.Send(Encoding.ASCII.GetBytes("after the short chain"));
        Poll();
        var rw = Expect(VirtioVsockOp.Rw);
        Assert.Equal("after the short chain", Encoding.ASCII.GetString(rw, VirtioVsockHdr.Size, rw.Length - VirtioVsockHdr.Size));
        Assert.Equal(1UL, RxCounters().UnusableChains);
    }

    /// <summary>Regression (device-core issue; the device did this before the fix): an rx chain with a device-readable descriptor is treated as an rx buffer:
    /// readable only, it has no writable byte, is held and wedges the queue; readable then writable,
    /// the device writes into the writable part as if the chain were fine. The rx queue is
    /// device-writable only (virtio 1.3 §5.10.2): the device must return such a chain with len 0,
    /// count it (UnusableReadable, UnusableChains), and use the good buffers behind it.</summary>
    [Theory]
    [InlineData(false)]  // one readable descriptor only
    [InlineData(true)]   // readable, then 4 KiB writable
    public void An_rx_chain_with_a_readable_descriptor_is_returned_unused_counted_and_the_queue_goes_on(bool withWritable)
    {
        using var listener = ListenAt1234();
        UseUpInitialRxBuffers();
        ushort usedBefore = _rx.UsedIdx;
        var readable = _rx.AddData(new byte[64]);
        ushort bad = withWritable ? _rx.AddChain(new[] { readable, _rx.AddWritable(4096) }) : _rx.AddChain(new[] { readable });
        PostRx();
        PostRx();

        Send(VirtioVsockOp.Request, 5000, 1234);
        Poll();
        var c = RxCounters();
        Assert.True(_rx.UsedIdx != usedBefore,
            $"the rx chain with a readable descriptor (id {bad}) was neither used nor returned: the rx queue is wedged behind it " +
            $"(UnusableChains {c.UnusableChains}, UnusableReadable {c.UnusableReadable})");
        var (id, len) = _rx.UsedElem(usedBefore);
        Assert.Equal(bad, (ushort)id);
        Assert.True(len == 0, $"the rx chain with a readable descriptor (id {bad}) was used with len {len}; it must be returned with len 0");
        Assert.Equal(1UL, c.UnusableReadable);
        Assert.Equal(1UL, c.UnusableChains);
        _received.Dequeue();

        var response = new VirtioVsockHdr(Expect(VirtioVsockOp.Response));
        Assert.Equal(5000u, response.DstPort);
        using var host = listener.Accept();
    }

    // ---- Defect 2: a header-only rx buffer at the head stalls host-to-guest data ------------------

    /// <summary>Regression (device-core issue; the device did this before the fix): a 44-byte rx buffer (room for a header, none for payload) at the head of
    /// the rx queue while only data is owed is held: data never goes into a header-only buffer, so
    /// the data waits for ever although 4 KiB buffers wait behind it (until some control packet
    /// happens to be owed). The device must return the header-only buffer with len 0, count it
    /// (UnusableHeaderOnly), and deliver the data in the buffers behind it at once (this Poll or the
    /// next), without any new guest packet.</summary>
    [Fact]
    public void A_header_only_rx_buffer_at_the_head_is_returned_when_only_data_is_owed_and_the_data_flows_behind_it()
    {
        using var listener = ListenAt1234();
        UseUpInitialRxBuffers();
        PostRx();
        using var host = ConnectFromGuest(listener, 5000, out _);  // the RESPONSE takes the one buffer
        Assert.Equal(_rx.AvailIdx, _rx.UsedIdx);

        // host data is pending on the established connection; no rx buffer, no control packet owed
        host.Send(Encoding.ASCII.GetBytes("data behind a header-only buffer"));
        Thread.Sleep(10);
        Poll();
        Poll();
        Assert.Empty(_received);

        ushort usedBefore = _rx.UsedIdx;
        ushort headerOnly = _rx.AddChain(new[] { _rx.AddWritable(VirtioVsockHdr.Size) });
        PostRx();
        PostRx();
        Poll();
        Poll();
        var c = RxCounters();
        Assert.True(_rx.UsedIdx != usedBefore,
            $"the 44-byte rx buffer (id {headerOnly}) was neither used nor returned while only data was owed: the data waits behind it " +
            $"(UnusableChains {c.UnusableChains}, UnusableHeaderOnly {c.UnusableHeaderOnly})");
        var (id, len) = _rx.UsedElem(usedBefore);
        Assert.Equal(headerOnly, (ushort)id);
        Assert.Equal(0u, len);
        Assert.Equal(1UL, c.UnusableHeaderOnly);
        Assert.Equal(1UL, c.UnusableChains);
        Assert.Empty(_received.Dequeue());

        Assert.True(_received.Count > 0, "the host's data did not arrive in the 4 KiB buffers behind the header-only one");
        var rw = Expect(VirtioVsockOp.Rw);
        Assert.Equal("data behind a header-only buffer", Encoding.ASCII.GetString(rw, VirtioVsockHdr.Size, rw.Length - VirtioVsockHdr.Size));
    }

    /// <summary>The other half of defect 2 (a guard: it passed before the fix too): when a control packet is owed, a
    /// 44-byte buffer at the head is exactly right for it and must be used (len 44, the header is
    /// that packet), never returned as unusable. Here: the RESPONSE to a REQUEST, and a RST.</summary>
    [Fact]
    public void A_header_only_rx_buffer_at_the_head_carries_an_owed_control_packet()
    {
        using var listener = ListenAt1234();
        UseUpInitialRxBuffers();

        ushort usedBefore = _rx.UsedIdx;
        ushort first = _rx.AddChain(new[] { _rx.AddWritable(VirtioVsockHdr.Size) });
        Send(VirtioVsockOp.Request, 5000, 1234);
        Poll();
        Assert.Equal((first, (uint)VirtioVsockHdr.Size), ((ushort)_rx.UsedElem(usedBefore).Id, _rx.UsedElem(usedBefore).Length));
        Assert.Equal(5000u, new VirtioVsockHdr(Expect(VirtioVsockOp.Response)).DstPort);
        using var host = listener.Accept();

        usedBefore = _rx.UsedIdx;
        ushort second = _rx.AddChain(new[] { _rx.AddWritable(VirtioVsockHdr.Size) });
        Send(VirtioVsockOp.Rw, 6000, 999, new byte[] { 1 });  // no connection: a RST is owed
        Poll();
        Assert.Equal((second, (uint)VirtioVsockHdr.Size), ((ushort)_rx.UsedElem(usedBefore).Id, _rx.UsedElem(usedBefore).Length));
        Assert.Equal(6000u, new VirtioVsockHdr(Expect(VirtioVsockOp.Rst)).DstPort);

        var c = RxCounters();
        Assert.Equal(0UL, c.UnusableChains);
        Assert.Equal(0UL, c.UnusableHeaderOnly);
    }

    // ---- Defect 3: zero initial credit: the device never asks for credit ------------------------

    /// <summary>Regression (device-core issue; the device did this before the fix): a guest that advertises buf_alloc 0 gives the device no credit, and the
    /// device then does not watch the host socket at all (no read interest without credit), so it
    /// never learns that host data waits and never sends CREDIT_REQUEST: both sides wait for ever.
    /// The device must notice the waiting host data and send exactly one CREDIT_REQUEST, unasked;
    /// once the guest's CREDIT_UPDATE brings credit, the host's bytes arrive in RW packets.</summary>
    [Fact]
    public void With_zero_initial_credit_waiting_host_data_makes_the_device_send_one_credit_request()
    {
        using var listener = ListenAt1234();
        SendPacket(VirtioVsockOp.Request, 5000, 1234, bufAlloc: 0, fwdCnt: 0);
        var response = new VirtioVsockHdr(Expect(VirtioVsockOp.Response));
        Assert.Equal(5000u, response.DstPort);
        using var host = listener.Accept();

        const string data = "bytes that wait for credit";
        host.Send(Encoding.ASCII.GetBytes(data));
        for (int i = 0; i < 5; i++)
        {
            Thread.Sleep(10);
            Poll();
        }
        var request = new VirtioVsockHdr(Expect(VirtioVsockOp.CreditRequest));
        Assert.Equal(5000u, request.DstPort);
        Assert.Equal(1234u, request.SrcPort);
        for (int i = 0; i < 5; i++)
        {
            Thread.Sleep(10);
            Poll();
        }
        Assert.True(_received.Count == 0, $"more than one packet while the guest gave no credit: {ReceivedOps()}");

        SendPacket(VirtioVsockOp.CreditUpdate, 5000, 1234, bufAlloc: 65536, fwdCnt: 0);
        var got = new StringBuilder();
        while (got.Length < data.Length)
        {
            var rw = Expect(VirtioVsockOp.Rw);
            got.Append(Encoding.ASCII.GetString(rw, VirtioVsockHdr.Size, rw.Length - VirtioVsockHdr.Size));
        }
        Assert.Equal(data, got.ToString());
        Assert.Equal(1, _device.ConnectionSnapshot(Span<VsockNative.Protocol.ConnectionInfo>.Empty));
    }

    // ---- Defect 4: the event queue borrows the rx chain ------------------------------------------

    /// <summary>Regression (device-core issue; the device did this before the fix): the event queue pops its chains into the same DescriptorChain the rx path
    /// holds a popped-but-unfilled rx chain in. A TRANSPORT_RESET while an rx chain is held overwrites
    /// it with the event buffer; when the device stops, it "gives back" the held rx chain by pushing
    /// the *event buffer's* id on the rx used ring: an rx id is used twice (or a foreign one appears)
    /// and the held rx buffer is lost for ever. The device must keep the rings apart: every rx used id
    /// was made available on rx, every event used id on the event queue, none used twice, and every
    /// rx buffer is either used or still available from the resume point (GET_VRING_BASE).
    /// Two ways an rx chain was held before the fix: a 20-byte buffer while a RST is owed (defect 1), and a
    /// good 4 KiB buffer popped for a connection the guest's RST freed in the same poll (the muxer's
    /// ready queue still names it, so it had "something" pending and then nothing).</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_transport_reset_while_an_rx_chain_is_held_keeps_every_ring_consistent(bool goodBufferHeld)
    {
        UseUpInitialRxBuffers();  // rx ids 0..15, made available and used
        if (!goodBufferHeld)
        {
            // The only rx buffer is too small for the RST the next packet owes: before the fix it was popped and held.
            _rx.AddChain(new[] { _rx.AddWritable(20) });
            Send(VirtioVsockOp.Rw, 7000, 999, new byte[] { 1 });
            Poll();
        }
        else
        {
            using var listener = ListenAt1234();
            PostRx();
            using var host = ConnectFromGuest(listener, 5000, out _);  // the RESPONSE takes the one buffer
            host.Send(new byte[] { 1, 2, 3 });  // the connection has data for the guest: in the muxer's ready queue
            Thread.Sleep(10);
            Poll();
            Assert.Empty(_received);
            // A good rx buffer, and the guest's RST; only the tx queue is kicked, so the RST frees the
            // connection before the rx buffer is popped for it (before the fix: popped, nothing written, held).
            PostRx();
            QueueTx(VirtioVsockOp.Rst, 5000, 1234);
            Assert.Equal(0, _device.Notify(QueueIndex.Tx, out _));
            Assert.True(_device.Poll(0, out var why) >= 0, why);
            Collect();
            Assert.Equal(0, _device.ConnectionSnapshot(Span<VsockNative.Protocol.ConnectionInfo>.Empty));
        }
        ushort evAvail = _ev.AvailIdx;
        Assert.Equal(1, evAvail);  // the constructor's event buffer, not used yet
        Assert.Equal(0, _ev.UsedIdx);

        Assert.Equal(0, _device.TransportReset(out _));
        Assert.Equal(0, _device.Stop());
        Collect();

        // rx: what was made available = what was used + what is still available from the resume point
        ushort rxAvail = _rx.AvailIdx, rxUsed = _rx.UsedIdx;
        Assert.Equal(0, _device.GetBase(QueueIndex.Rx, out ushort rxBase, out _));
        var madeAvailable = new List<ushort>();
        for (ushort i = 0; i < rxAvail; i++) madeAvailable.Add(ReadAvailEntry(_rx, i));
        var usedIds = new List<ushort>();
        for (ushort i = 0; i < rxUsed; i++) usedIds.Add((ushort)_rx.UsedElem(i).Id);
        var stillAvailable = new List<ushort>();
        for (ushort i = rxBase; i != rxAvail; i++) stillAvailable.Add(ReadAvailEntry(_rx, i));

        var evIds = new List<ushort>();
        for (ushort i = 0; i < evAvail; i++) evIds.Add(ReadAvailEntry(_ev, i));
        foreach (var group in usedIds.GroupBy(x => x))
        {
            int available = madeAvailable.Count(x => x == group.Key);
            Assert.True(group.Count() <= available,
                $"rx id {group.Key} is on the rx used ring {group.Count()} times but was made available {available} time(s) " +
                $"(event buffer ids: {string.Join(",", evIds)}; rx used ids: {string.Join(",", usedIds)})");
        }
        foreach (ushort id in madeAvailable.Distinct())
        {
            int available = madeAvailable.Count(x => x == id);
            int accounted = usedIds.Count(x => x == id) + stillAvailable.Count(x => x == id);
            Assert.True(accounted == available,
                $"rx id {id}: made available {available} time(s), used {usedIds.Count(x => x == id)}, still available {stillAvailable.Count(x => x == id)}: an rx buffer is lost");
        }
        Assert.Equal(madeAvailable.Count, usedIds.Count + (ushort)(rxAvail - rxBase));

        // event queue: the one event buffer carries TRANSPORT_RESET, once
        Assert.Equal(1, _ev.UsedIdx);
        var (evId, evLen) = _ev.UsedElem(0);
        Assert.Contains((ushort)evId, evIds);
        Assert.Equal((uint)VirtioVsockEvent.Size, evLen);
        var desc = new byte[8];
        _memory.Read(_ev.DescGpa + 16ul * evId, desc);
        var ev = new byte[4];
        _memory.Read(System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(desc), ev);
        Assert.Equal((uint)VirtioVsockEventId.TransportReset, System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(ev));
    }

    // ---- Defect 7: a RST is answered with a RST ---------------------------------------------------

    /// <summary>Regression (device-core issue; the device did this before the fix): a malformed RST on an established connection (a length and payload on a
    /// RST, or an unknown type) goes through the "malformed packet" path, which resets the connection
    /// by *sending* a RST: the guest's RST is answered with a RST (two peers doing so can loop).
    /// The device must end the connection (host stream closed, the connection freed) and send the
    /// guest nothing in answer.</summary>
    [Theory]
    [InlineData(5, (ushort)VirtioVsockType.Stream)]  // hdr.len 5 and 5 payload bytes on a RST
    [InlineData(0, (ushort)99)]                      // unknown type
    public void A_malformed_rst_on_a_connection_ends_it_and_is_not_answered(int payloadLength, ushort type)
    {
        using var listener = ListenAt1234();
        using var host = ConnectFromGuest(listener, 5000, out _);
        ulong closedBefore = _device.ConnectionCounters.ConnectionsClosed;

        SendPacket(VirtioVsockOp.Rst, 5000, 1234, new byte[payloadLength], type);
        for (int i = 0; i < 5; i++)
        {
            Thread.Sleep(10);
            Poll();
        }
        Assert.True(_received.Count == 0, $"the guest's (malformed) RST was answered: {ReceivedOps()}");

        Assert.Equal(0, _device.ConnectionSnapshot(Span<VsockNative.Protocol.ConnectionInfo>.Empty));
        Assert.Equal(closedBefore + 1, _device.ConnectionCounters.ConnectionsClosed);
        Assert.Equal(0UL, _device.EndedConnectionCounters.ResetsSent);
        host.ReceiveTimeout = 2000;
        try
        {
            Assert.Equal(0, host.Receive(new byte[8]));  // EOF
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
        }
    }

    /// <summary>Regression (device-core issue; the device did this before the fix): a malformed RST for no connection (a payload on a RST, or an unknown type)
    /// is not recognised as a RST and gets the "malformed packet for no connection" answer: a RST.
    /// The device must drop it, count it (as malformed or as an ignored RST) and answer nothing.</summary>
    [Theory]
    [InlineData(5, (ushort)VirtioVsockType.Stream)]
    [InlineData(0, (ushort)99)]
    public void A_malformed_rst_for_no_connection_is_dropped_counted_and_not_answered(int payloadLength, ushort type)
    {
        var before = _device.ConnectionCounters;
        SendPacket(VirtioVsockOp.Rst, 5100, 1234, new byte[payloadLength], type);
        for (int i = 0; i < 5; i++)
        {
            Thread.Sleep(10);
            Poll();
        }
        Assert.True(_received.Count == 0, $"a (malformed) RST for no connection was answered: {ReceivedOps()}");
        var after = _device.ConnectionCounters;
        Assert.Equal(1UL, after.Malformed + after.RstIgnored - before.Malformed - before.RstIgnored);
        Assert.Equal(before.NoConnection, after.NoConnection);
    }

    // ---- Kick fds must be eventfds -----------------------------------------------------------------

    [DllImport("libc", EntryPoint = "pipe", SetLastError = true)]
    private static extern int Pipe(int* fds);

    /// <summary>Regression (device-core issue; the device did this before the fix): any fd is taken as a kick fd. A pipe whose write end is closed is readable
    /// (EPOLLHUP) for ever and draining it (an 8-byte eventfd read) never clears that, so the event
    /// loop spins. The device must refuse a kick fd that is not an eventfd with -EINVAL and say so
    /// ("eventfd" in the error text); an eventfd is accepted.</summary>
    [Fact]
    public void A_kick_fd_that_is_not_an_eventfd_is_refused()
    {
        var config = new DeviceConfig { StructSize = (uint)sizeof(DeviceConfig), GuestCid = GuestCid, Flags = DeviceFlags.ManualPoll };
        Assert.Equal(0, DeviceOptionsFactory.TryCreate(config, out var options, out var why));
        Assert.Equal(0, VsockDevice.Create(options!, Logger.None, out var created));
        using var device = created!;
        Assert.Equal(0, device.SetMemory(_memory.Memory.Regions, out why));
        Assert.Equal(0, device.SetFeatures(VirtioTransportFeatures.Version1, out why));

        int* fds = stackalloc int[2];
        Assert.Equal(0, Pipe(fds));
        Libc.Close(fds[1]);
        int eventFd = EventFd.Create();
        Assert.True(eventFd >= 0);
        try
        {
            var setup = new QueueSettings(_rx.Size, _rx.DescGpa, _rx.AvailGpa, _rx.UsedGpa, KickFd: fds[0], CallFd: -1, Interrupt: null);
            int rc = device.SetupQueue(QueueIndex.Rx, setup, out why);
            Assert.True(rc == -Errno.EINVAL, $"a pipe as kick fd: SetupQueue returned {rc} (\"{why}\"), expected -EINVAL");
            Assert.Contains("eventfd", why);

            setup = setup with { KickFd = eventFd };
            Assert.Equal(0, device.SetupQueue(QueueIndex.Rx, setup, out why));
        }
        finally
        {
            Libc.Close(fds[0]);
            Libc.Close(eventFd);
        }
    }

    // ---- Needs-reset is told to the host -----------------------------------------------------------

    /// <summary>Installs a NeedsReset action that records its calls and checks, from another thread,
    /// that the device's lock is free while it runs (it must be called outside the lock).</summary>
    private List<(uint Queue, string Why, bool LockFree)> RecordNeedsReset()
    {
        var calls = new List<(uint, string, bool)>();
        _device.Options.NeedsReset = (queue, why) =>
        {
            // A thread of its own (not the pool, which a loaded machine may not start in time) takes
            // the device lock; if the action ran under it, the join times out.
            var probe = new System.Threading.Thread(() => _ = _device.ConnectionCounters);
            probe.Start();
            bool lockFree = probe.Join(10000);
            calls.Add((queue, why, lockFree));
        };
        return calls;
    }

    /// <summary>A queue fault (avail->idx more than a queue size ahead) sets NEEDS_RESET and tells the
    /// host once, outside the device lock, with the queue's index and a reason; a later fault does not
    /// tell it again. (A guard: passes since the action was added in 4314a3a.)</summary>
    [Fact]
    public void A_queue_fault_sets_needs_reset_and_tells_the_host_once_outside_the_lock()
    {
        var calls = RecordNeedsReset();
        _tx.AvailIdx = (ushort)(_tx.AvailIdx + QueueSize + 1);
        Poll();
        Assert.NotEqual(0u, _device.Status & DeviceStatus.NeedsReset);
        var call = Assert.Single(calls);
        Assert.Equal(QueueIndex.Tx, call.Queue);
        Assert.False(string.IsNullOrEmpty(call.Why));
        Assert.True(call.LockFree, "the NeedsReset action ran while the device held its lock");

        _rx.AvailIdx = (ushort)(_rx.AvailIdx + QueueSize + 1);
        Poll();
        Poll();
        Assert.Single(calls);
    }

    /// <summary>The event loop fails (its epoll fd closed underneath it): the device stops running,
    /// sets NEEDS_RESET and tells the host with QueueIndex.None. (A guard: passes since 4314a3a.)</summary>
    [Fact]
    public void A_failing_event_loop_stops_the_device_sets_needs_reset_and_tells_the_host()
    {
        var calls = RecordNeedsReset();
        var loop = typeof(VsockDevice).GetField("_loop", BindingFlags.NonPublic | BindingFlags.Instance)!.GetValue(_device)!;
        var epoll = loop.GetType().GetField("_epoll", BindingFlags.NonPublic | BindingFlags.Instance)!.GetValue(loop)!;
        var fdField = epoll.GetType().GetField("_fd", BindingFlags.NonPublic | BindingFlags.Instance)!;
        int fd = (int)fdField.GetValue(epoll)!;
        Assert.Equal(0, Libc.Close(fd));
        fdField.SetValue(epoll, -1);  // closed underneath; -1 so Dispose does not close a reused fd number

        int rc = _device.Poll(0, out var why);
        Assert.True(rc < 0, $"Poll returned {rc} with its epoll fd closed");
        Assert.NotEqual(0u, _device.Status & DeviceStatus.NeedsReset);
        Assert.Equal(0u, _device.Status & DeviceStatus.Running);
        var call = Assert.Single(calls);
        Assert.Equal(QueueIndex.None, call.Queue);
        Assert.False(string.IsNullOrEmpty(call.Why));
        Assert.True(call.LockFree, "the NeedsReset action ran while the device held its lock");
    }
}
