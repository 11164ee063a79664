using System.Collections.Generic;

namespace VsockNative.Fuzz;

/// <summary>
/// The seed corpus, written with the input encoding of <see cref="Harness"/> (fuzz/managed/corpus is
/// generated from here: <c>VsockNative.Fuzz seeds DIR</c>). Each seed is a valid session.
/// </summary>
public static class Seeds
{
    private const byte Stream = 1, Seqpacket = 2, Dgram = 3;
    private const byte Request = 1, Response = 2, Rst = 3, Shutdown = 4, Rw = 5, CreditUpdate = 6, CreditRequest = 7;

    public static IEnumerable<(string Name, byte[] Bytes)> All()
    {
        yield return ("connect-rw-shutdown", Session(0, s =>
        {
            s.Tx(Request);
            s.Kick();
            s.Peer(0, 0, 7);           // the host writes 128 bytes
            s.Kick();
            s.Tx(Rw, payload: 50);
            s.Kick();
            s.Peer(0, 1, 12);          // the host reads
            s.Tx(CreditUpdate);
            s.Tx(Shutdown, flags: 3);
            s.Kick();
            s.Peer(0, 3, 0);           // the host closes
            s.Kick();
            s.Rx(3);
            s.Kick();
        }));
        yield return ("connect-rst", Session(0, s =>
        {
            s.Tx(Request);
            s.Kick();
            s.Tx(Rst);
            s.Kick();
        }));
        yield return ("host-closes-first", Session(0, s =>
        {
            s.Tx(Request);
            s.Kick();
            s.Peer(0, 0, 10);
            s.Peer(0, 2, 0);           // the host half-closes
            s.Kick();
            s.Tx(Rw, payload: 200);
            s.Tx(Shutdown, flags: 3);
            s.Kick();
        }));
        yield return ("credit-exhausted-then-updated", Session(0, s =>
        {
            s.Tx(Request, bufAllocShift: 0);  // the guest advertises 4096 bytes
            s.Kick();
            s.Peer(0, 0, 14);          // the host writes 16 KiB: the device stops at the credit
            s.Kick();
            s.Rx(3);
            s.Kick();
            s.Tx(CreditUpdate, bufAllocShift: 2);
            s.Kick();
            s.Tx(CreditRequest);
            s.Kick();
        }));
        yield return ("no-listener", Session(0, s =>
        {
            s.Tx(Request, dstPort: 1);
            s.Kick();
        }));
        yield return ("seqpacket", Session(4, s =>
        {
            s.Tx(Request, type: Seqpacket, dstPort: 2);
            s.Kick();
            s.Tx(Rw, type: Seqpacket, dstPort: 2, payload: 30, flags: 3);
            s.Tx(Rw, type: Seqpacket, dstPort: 2, payload: 10, flags: 1);
            s.Kick();
            s.Peer(0, 0, 6);
            s.Kick();
            s.Tx(Shutdown, type: Seqpacket, dstPort: 2, flags: 3);
            s.Kick();
        }));
        yield return ("datagram", Session(8, s =>
        {
            s.Tx(Rw, type: Dgram, payload: 20, flags: 1);
            s.Kick();
            s.Tx(Rw, type: Dgram, dstPort: 1, payload: 20, flags: 1);
            s.Kick();
        }));
        yield return ("indirect-chains", Session(2, s =>
        {
            s.Rx(3, indirect: true, buffers: 3, size: 4);
            s.Tx(Request, shape: 0x20 | 2, cuts: new byte[] { 10, 20 });
            s.Kick();
            s.Tx(Rw, payload: 100, shape: 0x20 | 1, cuts: new byte[] { 44 });
            s.Kick();
            s.Peer(0, 0, 9);
            s.Kick();
        }));
        yield return ("event-idx", Session(1, s =>
        {
            s.Op(Harness.Op.RingFlags, 0, 1, 0, 0);   // rx used_event 0
            s.Op(Harness.Op.RingFlags, 1, 1, 2, 0);   // tx used_event 2
            s.Tx(Request);
            s.Kick();
            s.Tx(Rw, payload: 10);
            s.Tx(Rw, payload: 10);
            s.Kick();
            s.Peer(0, 0, 8);
            s.Kick();
        }));
        yield return ("split-header", Session(0, s =>
        {
            s.Tx(Request, shape: 3, cuts: new byte[] { 8, 8, 8 });
            s.Kick();
            s.Tx(Rw, payload: 60, shape: 2, cuts: new byte[] { 20, 30 });
            s.Kick();
        }));
        yield return ("host-connects", Session(0, s =>
        {
            s.Op(Harness.Op.HostConnect, 4);          // CONNECT 5000
            s.Kick();
            s.Kick();
        }));
        yield return ("host-connects-guest-accepts", Session(0, s =>
        {
            s.Op(Harness.Op.HostConnect, 4);          // CONNECT 5000: the device sends REQUEST from its first host port
            s.Kick();
            s.Peer(0, 1, 4);                          // the host reads "OK <port>" once the guest answers
            s.Op(Harness.Op.TxPacket, 8, 0, 0x00, 0x00, 0x00, 0x40, Stream, Response, 0, 4, 0, 0);
            s.Kick();
            s.Peer(0, 1, 4);
            s.Peer(0, 0, 9);                          // the host writes 512 bytes
            s.Kick();
            s.Op(Harness.Op.TxPacket, 8, 0, 0x00, 0x00, 0x00, 0x40, Stream, Rw, 0, 4, 40, 0);
            s.Kick();
            s.Peer(0, 1, 8);
        }));
        yield return ("transport-reset", Session(0, s =>
        {
            s.Tx(Request);
            s.Kick();
            s.Peer(0, 0, 8);
            s.Op(Harness.Op.TransportReset);
            s.Kick();
            s.Tx(Request, srcPort: 1);
            s.Kick();
        }));
    }

    private static byte[] Session(byte features, System.Action<Writer> body)
    {
        var w = new Writer();
        w.Bytes.AddRange(new byte[] { features, 4, 4, 2, 4 });  // queues of 16, 16 and 4; buf_alloc 8192
        w.Rx(3);                                              // four rx chains of one 2 KiB buffer
        w.Op(Harness.Op.EventPost, 8);
        w.Kick();
        body(w);
        return w.Bytes.ToArray();
    }

    private sealed class Writer
    {
        public readonly List<byte> Bytes = new();

        public void Op(Harness.Op op, params byte[] args)
        {
            Bytes.Add((byte)op);
            Bytes.AddRange(args);
        }

        public void Kick() => Op(Harness.Op.Kick, 3);

        public void Peer(byte which, byte action, byte sizeShift) => Op(Harness.Op.PeerAct, which, action, sizeShift);

        /// <summary><paramref name="chains"/>+1 rx chains of <paramref name="buffers"/> buffers of 32 &lt;&lt; size bytes.</summary>
        public void Rx(byte chains, bool indirect = false, byte buffers = 1, byte size = 6)
        {
            Bytes.Add((byte)Harness.Op.RxPost);
            Bytes.Add((byte)(chains << 6 | (indirect ? 0x10 : 0) | (buffers - 1)));
            for (int k = 0; k <= chains; k++)
                for (int i = 0; i < buffers; i++) Bytes.Add(size);
        }

        public void Tx(byte op, byte type = Stream, byte srcPort = 0, byte dstPort = 0, byte payload = 0, byte flags = 0,
            byte bufAllocShift = 4, byte shape = 0, byte[]? cuts = null)
        {
            Op(Harness.Op.TxPacket, 0, srcPort, dstPort, type, op, flags, bufAllocShift, payload, shape);
            if (cuts is not null) Bytes.AddRange(cuts);
        }
    }
}
