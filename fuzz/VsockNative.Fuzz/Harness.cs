using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using VsockNative.Device;
using VsockNative.Diagnostics;
using VsockNative.Protocol;
using VsockNative.Virtqueue;
using VsockNative.Wire;

namespace VsockNative.Fuzz;

/// <summary>Sums over the runs of one <see cref="Harness"/>.</summary>
public sealed class HarnessTotals
{
    public ulong Runs, Steps, UsedEntries, BytesToGuest, BytesFromGuest, ConnectionsOpened, BadChains, NeedsReset;

    public override string ToString() =>
        $"{Runs} runs, {Steps} steps, {UsedEntries} used entries, {ConnectionsOpened} connections, {BytesFromGuest} bytes from the guest, " +
        $"{BytesToGuest} bytes to it, {BadChains} bad chains, {NeedsReset} rings broken";
}

/// <summary>A broken invariant: AFL records the input as a crash.</summary>
public sealed class InvariantViolation : Exception
{
    public InvariantViolation(string message) : base(message) { }
}

/// <summary>
/// One fuzz input played against a real <see cref="VsockDevice"/> in manual-poll mode (one thread,
/// deterministic stepping). The input's first bytes choose the features, queue sizes and the
/// device's buf_alloc; the rest is a list of guest and host operations (see <see cref="Op"/>). After
/// every step that ran the device, the invariants of issue 12 are checked; a violation throws
/// <see cref="InvariantViolation"/>, any exception out of the device escapes as itself.
/// </summary>
public sealed class Harness : IDisposable
{
    public const ulong GuestCid = 3;
    public const int HeaderSize = 44;
    public const uint MaxConnections = 4;
    private const int MaxOps = 512;
    private const long HeapBound = 512L << 20;
    private readonly HostPeers _peers = new();
    private readonly OpenFds _fds = new();
    /// <summary>Reused by every input: <see cref="GuestRam.Reset"/> gives each the same fresh bytes.</summary>
    private readonly GuestRam _ram = new();
    private readonly byte[] _packet = new byte[1 << 16];
    private readonly int _baselineFds = -1;
    private int _fdCount;

    /// <summary>What the runs so far made the device do (to show a corpus exercises what it claims).</summary>
    public HarnessTotals Totals { get; } = new();

    /// <summary>What an input op byte means (op = byte % Count).</summary>
    public enum Op : byte
    {
        TxPacket, RxPost, EventPost, RawDesc, RawAvail, Kick, Poll, PeerAct, HostConnect, RingFlags, TransportReset, Count,
    }

    public Harness()
    {
        // the runtime opens some fds once, on first use (its socket engine): the seeds warm it up
        foreach (var (_, seed) in Seeds.All()) Run(seed);
        _baselineFds = OpenFds.DeviceKinds().Count;
        _fdCount = _fds.Count();
    }

    /// <summary>Plays one input; throws on a broken invariant.</summary>
    public void Run(ReadOnlySpan<byte> input)
    {
        using (var run = new Session(_peers, _ram, _packet, input, Totals))
            run.Play(input);
        _peers.CloseAll();
        Totals.Runs++;
        if (_baselineFds >= 0) CheckFds();
        if (GC.GetTotalMemory(false) > HeapBound && GC.GetTotalMemory(true) > HeapBound)
            throw new InvariantViolation($"managed heap above {HeapBound >> 20} MiB after a run");
    }

    public void Dispose()
    {
        _peers.Dispose();
        _fds.Dispose();
        _ram.Dispose();
    }

    /// <summary>No socket, epoll, eventfd, timerfd or signalfd more than before the first input. Their
    /// kinds are read whenever the number of fds differs from the one after the previous input (the
    /// runtime opens and closes pipes and files of its own now and then): a leak is seen in the
    /// input that made it, unless the runtime closed an fd in that very input.</summary>
    private void CheckFds()
    {
        int count = _fds.Count();
        if (count == _fdCount) return;
        _fdCount = count;
        var fds = OpenFds.DeviceKinds();
        if (fds.Count > _baselineFds)
            throw new InvariantViolation($"{fds.Count - _baselineFds} file descriptors left open after the device was disposed: {string.Join(", ", fds)}");
    }

    /// <summary>The guest's view of one connection: bytes the device sent it, and every credit it advertised.</summary>
    private sealed class Credit
    {
        public uint Sent;
        public readonly List<(uint BufAlloc, uint FwdCnt)> Ads = new();
        /// <summary>Where the ads of the guest's first REQUEST since the device's last RESPONSE begin (-1:
        /// none): the RESPONSE starts the connection from them; a REQUEST the device drops, or one on a
        /// connection it keeps, starts nothing, so the earliest one counts.</summary>
        public int RequestAt = -1;
    }

    private sealed class Session : IDisposable
    {
        private const ushort DescNext = 1, DescWrite = 2, DescIndirect = 4;
        private readonly HostPeers _peers;
        private readonly HarnessTotals _totals;
        private readonly GuestRam _ram;
        private readonly GuestQueue[] _q = new GuestQueue[3];
        private readonly bool[][] _descBusy = new bool[3][];
        private readonly List<ushort>?[][] _chainDescs = new List<ushort>?[3][];
        private readonly List<(ulong Gpa, uint Len)>?[] _rxBuffers = new List<(ulong Gpa, uint Len)>?[GuestQueue.MaxSize];
        private readonly Dictionary<(uint Guest, uint Host), Credit> _credit = new();
        private readonly VsockDevice? _device;
        private readonly bool _indirect;
        private ulong _heapNext = GuestRam.HeapGpa;
        private const ulong NoMemory = ulong.MaxValue;
        // the heap ranges of outstanding chains (and, with Head = Building, of the one being built)
        private readonly List<(ulong Gpa, ulong End, int Queue, int Head)> _heapLive = new();
        private const int Building = -1;
        private bool _creditUnknown;
        private readonly ulong[] _usedSeen = new ulong[3];
        private ulong _rxPackets, _rxBytes;
        private bool _broken;
        private readonly byte[] _packet;
        private static readonly ChainError[] ChainErrors = Enum.GetValues<ChainError>();

        public Session(HostPeers peers, GuestRam ram, byte[] packet, ReadOnlySpan<byte> input, HarnessTotals totals)
        {
            _peers = peers;
            _totals = totals;
            _ram = ram;
            _ram.Reset();
            _packet = packet;
            var r = new InputReader(input);
            byte f = r.U8();
            bool eventIdx = (f & 1) != 0;
            _indirect = (f & 2) != 0;
            ulong features = VirtioTransportFeatures.Version1 | VirtioVsockFeatures.Stream;
            if (eventIdx) features |= VirtioTransportFeatures.EventIdx;
            if (_indirect) features |= VirtioTransportFeatures.IndirectDesc;
            if ((f & 4) != 0) features |= VirtioVsockFeatures.Seqpacket;
            if ((f & 8) != 0) features |= VirtioVsockFeatures.Dgram;
            for (int i = 0; i < 3; i++)
            {
                byte b = r.U8();
                ushort size = (b & 0x80) == 0 ? (ushort)(1 << (b % 8)) : (ushort)(b & 0x7f);
                _q[i] = new GuestQueue(_ram, i, size, eventIdx);
                _descBusy[i] = new bool[Math.Max(1, (int)size)];
                _chainDescs[i] = new List<ushort>[Math.Max(1, (int)size)];
            }

            uint bufAlloc = 512u << (r.U8() % 8);
            _ram.Commit();
            var options = new DeviceOptions(GuestCid, DeviceOptions.SupportedFeatures, manualPoll: true, udsPath: peers.UdsPath,
                bufAlloc: bufAlloc, maxConnections: MaxConnections, separateDatagramQueues: false, maxDgramSockets: 4);
            if (VsockDevice.Create(options, Logger.None, out _device) < 0 || _device is null) throw new InvariantViolation("device creation failed");
            Expect(_device.SetMemory(_ram.Memory.Regions, out var why), why);
            Expect(_device.SetFeatures(features, out why), why);
            for (uint i = 0; i < 3; i++)
            {
                var q = _q[i];
                // invalid sizes are the input's to try: the device must refuse them, never take them
                q.Live = _device.SetupQueue(i, new QueueSettings(q.Size, q.DescGpa, q.AvailGpa, q.UsedGpa, -1, -1, null), out _) == 0;
                bool valid = q.Size is > 0 and <= GuestQueue.MaxSize && (q.Size & (q.Size - 1)) == 0;
                if (q.Live != valid) throw new InvariantViolation($"queue {i} of size {q.Size}: setup returned {(q.Live ? "ok" : "an error")}");
            }

            _broken = _device.Start(out _) < 0;
            // what the device wrote while it was set up and started is checked too (the guest's next
            // commit copies only the blocks the guest wrote, so nothing the device wrote is absorbed unseen)
            Check();
        }

        private static void Expect(int rc, string why)
        {
            if (rc < 0) throw new InvariantViolation($"setup failed: {why}");
        }

        public void Play(ReadOnlySpan<byte> input)
        {
            var r = new InputReader(input);
            for (int i = 0; i < 5; i++) r.U8();
            if (Verbose) Trace($"=== input of {input.Length} bytes: features 0x{input[0]:x}, queue sizes {_q[0].Size} {_q[1].Size} {_q[2].Size}");
            for (int ops = 0; ops < MaxOps && !r.End && !_broken; ops++)
            {
                var op = (Op)(r.U8() % (byte)Op.Count);
                if (Verbose) Trace($"op {op}");
                switch (op)
                {
                    case Op.TxPacket: TxPacket(ref r); break;
                    case Op.RxPost: RxPost(ref r); break;
                    case Op.EventPost: EventPost(ref r); break;
                    case Op.RawDesc: RawDesc(ref r); break;
                    case Op.RawAvail: RawAvail(ref r); break;
                    case Op.Kick: Step(r.U8() % 4); break;
                    case Op.Poll: Step(-1); break;
                    case Op.PeerAct:
                        _peers.Accept();
                        _peers.Act(r.U8(), r.U8(), 1 << (r.U8() % 17));
                        break;
                    case Op.HostConnect: HostConnect(ref r); break;
                    case Op.RingFlags: RingFlags(ref r); break;
                    case Op.TransportReset:
                        BeforeDevice();
                        if (Verbose) Trace("TRANSPORT_RESET");
                        NoteBroken(_device!.TransportReset(out var why), why);
                        // every connection is gone: a new one starts at the device's RESPONSE (see RxPacket)
                        Check();
                        break;
                }
            }

            // the guest kicks everything once more at the end: what is pending runs through the checks too
            if (!_broken) Step(3);
        }

        /// <summary>Kicks queue <paramref name="queue"/> (3: all, -1: none), polls once, checks.</summary>
        private void Step(int queue)
        {
            if (Verbose) Trace($"step: kick {queue}");
            if (Verbose)
                foreach (var q in _q)
                    if (q.Size > 0)
                    {
                        var slots = new List<string>();
                        for (int i = 0; i < Math.Min((int)q.Size, 8); i++) slots.Add(_ram.U16(q.AvailGpa + 4 + 2ul * (ulong)i).ToString());
                        if (Verbose) Trace($"  queue {q.Index} avail idx {_ram.U16(q.AvailGpa + 2)} slots {string.Join(",", slots)}");
                    }
            BeforeDevice();
            for (uint i = 0; i < 3; i++)
                if (queue == 3 || queue == i) _device!.Notify(i, out _);
            NoteBroken(_device!.Poll(0, out var why), why);

            _totals.Steps++;
            _peers.Accept();
            Check();
        }

        /// <summary>The guest broke a ring: the device stops until a reset (chains it filled but had not
        /// published yet stay unpublished); the input ends after this step's checks.</summary>
        private void NoteBroken(int rc, string why)
        {
            if (rc >= 0 && (_device!.Status & StatusBits.NeedsReset) == 0) return;
            _broken = true;
            _totals.NeedsReset++;
            if (Verbose) Trace($"device call {rc}: {why}, status 0x{_device!.Status:x}");
        }

        private void BeforeDevice()
        {
            foreach (var q in _q) q.RememberOutstanding();
            _ram.Commit();
        }

        // ---- the invariants ----

        private void Check()
        {
            _ram.DiffRuns(MayHaveWritten);
            foreach (var q in _q)
            {
                foreach (var (id, len, ranges) in q.TakeUsed(Fail))
                {
                    _totals.UsedEntries++;
                    _usedSeen[q.Index]++;
                    if (Verbose) Trace($"used: queue {q.Index} id {id} len {len}");
                    if (q.Index == 0 && len > 0) { _rxPackets++; _rxBytes += len; }
                    if (q.Index == 0 && len > 0) RxPacket(id, len);
                    FreeDescs(q.Index, id);
                }
            }

            for (uint i = 0; i < 3; i++)
            {
                if (!_q[i].Live) continue;
                _device!.GetQueueCounters(i, out var c, out _);
                ulong reasons = 0;
                foreach (ChainError e in ChainErrors) reasons += c.BadChainsWith(e);
                if (reasons != c.BadChains) Fail($"queue {i}: {c.BadChains} bad chains but the reasons add up to {reasons}");
                if (Verbose) Trace($"queue {i}: used idx {_ram.U16(_q[i].UsedGpa + 2)}, device used {c.UsedEntries}, popped {c.ChainsPopped}, given back {c.ChainsGivenBack}, bad {c.BadChains}, faults {c.QueueFaults}");
                if (_broken ? c.UsedEntries < _usedSeen[i] : c.UsedEntries != _usedSeen[i]) Fail($"queue {i}: the device counts {c.UsedEntries} used entries, the guest saw {_usedSeen[i]}");
                if (c.UnusableReadable + c.UnusableTooSmall + c.UnusableHeaderOnly != c.UnusableChains)
                    Fail($"queue {i}: {c.UnusableChains} unusable chains but the reasons add up to {c.UnusableReadable + c.UnusableTooSmall + c.UnusableHeaderOnly}");
            }

            var d = _device!.Counters;
            // After raw writes to the rx ring (_creditUnknown) the guest may have made more chains
            // available than the ring holds (an avail index bumped over stale slots): the device then
            // publishes more used entries in one batch than there are slots, the later overwriting the
            // earlier before the guest reads them. Once that happened (Overrun) the entries the guest read
            // are not those the device wrote and neither rx count holds (the used-entry count above still
            // does); after raw writes alone, the lengths the guest sees may not be the device's either.
            if (!_q[0].Overrun && (_broken ? d.RxPackets < _rxPackets : d.RxPackets != _rxPackets || (!_creditUnknown && d.RxBytes != _rxBytes)))
                Fail($"the device counts {d.RxPackets} rx packets of {d.RxBytes} bytes, the guest got {_rxPackets} of {_rxBytes}");
            var m = _device!.ConnectionCounters;
            int open = _device.ConnectionSnapshot(default);
            if (m.ConnectionsOpened - m.ConnectionsClosed != (ulong)open)
                Fail($"connections: opened {m.ConnectionsOpened} - closed {m.ConnectionsClosed} != {open} open");
            if (open > MaxConnections) Fail($"{open} connections open, the limit is {MaxConnections}");
        }

        /// <summary>Every byte of a run the device changed lies in a used ring or in a writable range of a chain it holds.</summary>
        private void MayHaveWritten(ulong gpa, ulong length)
        {
            ulong end = gpa + length;
            while (gpa < end)
            {
                WritableRange? allowed = null;
                foreach (var q in _q)
                    if ((allowed = q.WritableAt(gpa)) is not null) break;
                if (allowed is not { } r) throw new InvariantViolation($"the device wrote 0x{gpa:x}, which no chain it holds made writable");
                gpa = r.Gpa + r.Length;  // r holds gpa: r.Gpa <= gpa, no overflow
            }
        }

        private static void Fail(string why) => throw new InvariantViolation(why);

        private static readonly bool Verbose = Environment.GetEnvironmentVariable("VSN_FUZZ_VERBOSE") == "1";

        /// <summary>Callers test <see cref="Verbose"/> first: the messages are never formatted in a fuzz run.</summary>
        private static void Trace(string what) => Console.Error.WriteLine(what);

        /// <summary>A packet the device put in rx chain <paramref name="id"/>: its header is checked and its
        /// data counted against the credit the guest advertised on that connection.</summary>
        private void RxPacket(ushort id, uint len)
        {
            if (_creditUnknown || _rxBuffers[id] is not { } buffers) return;
            int got = 0;
            foreach (var (addr, length) in buffers)
            {
                int n = (int)Math.Min(length, (uint)(_packet.Length - got));
                _ram.Read(addr, _packet.AsSpan(got, n));
                got += n;
            }

            if (len < HeaderSize) Fail($"rx used len {len} is shorter than a packet header");
            var h = _packet.AsSpan(0, HeaderSize);
            ulong dstCid = BinaryPrimitives.ReadUInt64LittleEndian(h[8..]);
            uint srcPort = BinaryPrimitives.ReadUInt32LittleEndian(h[16..]), dstPort = BinaryPrimitives.ReadUInt32LittleEndian(h[20..]);
            uint payload = BinaryPrimitives.ReadUInt32LittleEndian(h[24..]);
            ushort type = BinaryPrimitives.ReadUInt16LittleEndian(h[28..]), op = BinaryPrimitives.ReadUInt16LittleEndian(h[30..]);
            if (dstCid != GuestCid) Fail($"rx packet for cid {dstCid}");
            if (payload != len - HeaderSize) Fail($"rx packet header says len {payload}, the used entry {len - HeaderSize} after the header");
            var key = (dstPort, srcPort);
            if (Verbose) Trace($"device -> guest: {srcPort}->{dstPort} type {type} op {op} len {payload} flags {BinaryPrimitives.ReadUInt32LittleEndian(h[32..])} buf_alloc {BinaryPrimitives.ReadUInt32LittleEndian(h[36..])} fwd_cnt {BinaryPrimitives.ReadUInt32LittleEndian(h[40..])}");
            if (op is (ushort)VirtioVsockOp.Request or (ushort)VirtioVsockOp.Response)
            {
                // a new connection on the device's side: nothing sent yet. Its RESPONSE: the guest's credit is
                // what it advertised since its REQUEST. Its own REQUEST: the guest's RESPONSE may already be in
                // the tx ring, processed in the same poll (the ads so far stay)
                if (!_credit.TryGetValue(key, out var fresh)) _credit[key] = fresh = new Credit();
                fresh.Sent = 0;
                if (op == (ushort)VirtioVsockOp.Response && fresh.RequestAt > 0) fresh.Ads.RemoveRange(0, Math.Min(fresh.RequestAt, fresh.Ads.Count));
                fresh.RequestAt = -1;
                return;
            }
            if (op != (ushort)VirtioVsockOp.Rw || type == (ushort)VirtioVsockType.Dgram) return;
            if (!_credit.TryGetValue(key, out var c)) { _credit[key] = c = new Credit(); }
            c.Sent += payload;
            _totals.BytesToGuest += payload;
            foreach (var (bufAlloc, fwdCnt) in c.Ads)
                if ((uint)(c.Sent - fwdCnt) <= bufAlloc) return;
            Fail($"connection guest:{dstPort} host:{srcPort}: the device has sent {c.Sent} bytes, more than any credit the guest advertised ({Describe(c)})");
        }

        private static string Describe(Credit c)
        {
            var parts = new List<string>();
            foreach (var (b, f) in c.Ads) parts.Add($"buf_alloc {b} fwd_cnt {f}");
            return parts.Count == 0 ? "none" : string.Join(", ", parts);
        }

        // ---- guest operations ----

        private void TxPacket(ref InputReader r)
        {
            byte m = r.U8();
            ulong srcCid = (m & 1) != 0 ? r.U64() : GuestCid;
            ulong dstCid = (m & 2) != 0 ? r.U64() : 2;
            uint srcPort = (m & 4) != 0 ? r.U32() : 5000u + r.U8() % 4u;
            uint dstPort = (m & 8) != 0 ? r.U32() : HostPeers.StreamPort + r.U8() % 4u;
            byte t = r.U8();
            ushort type = t % 4 == 0 ? r.U16() : (ushort)(t % 4);
            ushort op = (m & 16) != 0 ? r.U16() : (ushort)(r.U8() % 9);
            uint flags = (m & 32) != 0 ? r.U32() : r.U8() % 4u;
            var key = (srcPort, dstPort);
            _credit.TryGetValue(key, out var credit);
            uint bufAlloc = (m & 64) != 0 ? r.U32() : 4096u << (r.U8() % 6);
            uint fwdCnt = (m & 128) != 0 ? r.U32() : credit?.Sent ?? 0;
            byte l = r.U8();
            int payload = l < 0xF0 ? l : (l - 0xEF) * 1024;
            byte shape = r.U8();
            uint lenField = (shape & 0x80) != 0 ? r.U32() : (uint)payload;

            var bytes = new byte[HeaderSize + payload];
            var h = bytes.AsSpan();
            BinaryPrimitives.WriteUInt64LittleEndian(h, srcCid);
            BinaryPrimitives.WriteUInt64LittleEndian(h[8..], dstCid);
            BinaryPrimitives.WriteUInt32LittleEndian(h[16..], srcPort);
            BinaryPrimitives.WriteUInt32LittleEndian(h[20..], dstPort);
            BinaryPrimitives.WriteUInt32LittleEndian(h[24..], lenField);
            BinaryPrimitives.WriteUInt16LittleEndian(h[28..], type);
            BinaryPrimitives.WriteUInt16LittleEndian(h[30..], op);
            BinaryPrimitives.WriteUInt32LittleEndian(h[32..], flags);
            BinaryPrimitives.WriteUInt32LittleEndian(h[36..], bufAlloc);
            BinaryPrimitives.WriteUInt32LittleEndian(h[40..], fwdCnt);
            for (int i = HeaderSize; i < bytes.Length; i++) bytes[i] = (byte)(i * 7);

            if (Verbose) Trace($"guest -> device: {srcCid}:{srcPort}->{dstCid}:{dstPort} type {type} op {op} len {lenField} ({payload} follow) flags {flags} buf_alloc {bufAlloc} fwd_cnt {fwdCnt} shape 0x{shape:x}");

            // the shape: 1-4 readable segments cut at input-chosen points, direct or indirect
            int segments = 1 + shape % 4;
            var cuts = new List<int> { 0 };
            for (int i = 1; i < segments; i++) cuts.Add(Math.Min(bytes.Length, cuts[^1] + r.U8()));
            cuts.Add(bytes.Length);
            var buffers = new List<(ulong Gpa, uint Len, bool Writable)>();
            for (int i = 0; i + 1 < cuts.Count; i++)
            {
                int n = cuts[i + 1] - cuts[i];
                if (n == 0 && i + 2 < cuts.Count) continue;
                ulong gpa = Allocate((ulong)n);
                if (gpa != NoMemory) bytes.AsSpan(cuts[i], n).CopyTo(_ram.Span(gpa, n));
                buffers.Add((gpa, (uint)n, false));
            }

            if ((shape & 0x40) != 0) buffers.Add((Allocate(16), 16, true));  // a writable tail the device must not write
            // the credit the guest advertised: only in a packet the device gets
            if (AddChain(1, buffers, (shape & 0x20) != 0) && srcCid == GuestCid)
            {
                // (another source CID is spoofed: the device drops it, its credit must never count)
                if (credit is null) _credit[key] = credit = new Credit();
                if (op == (ushort)VirtioVsockOp.Request && credit.RequestAt < 0) credit.RequestAt = credit.Ads.Count;
                credit.Ads.Add((bufAlloc, fwdCnt));
            }
        }

        private void RxPost(ref InputReader r)
        {
            byte c = r.U8();
            int chains = 1 + (c >> 6);
            for (int k = 0; k < chains; k++)
            {
                var buffers = new List<(ulong Gpa, uint Len, bool Writable)>();
                if ((c & 0x20) != 0) buffers.Add((Allocate(8), 8, false));  // readable first: unusable for rx
                int count = 1 + c % 4;
                for (int i = 0; i < count; i++)
                {
                    byte s = r.U8();
                    uint len = s % 8 == 7 ? HeaderSize : 32u << (s % 8);
                    buffers.Add((Allocate(len), len, true));
                }

                AddChain(0, buffers, (c & 0x10) != 0);
            }
        }

        private void EventPost(ref InputReader r)
        {
            uint len = (uint)(r.U8() % 16);
            AddChain(2, new List<(ulong, uint, bool)> { (Allocate(Math.Max(1, len)), len, true) }, false);
        }

        /// <summary>A descriptor written raw (any address, length, flags, next): it may break chains the guest already made available.</summary>
        private void RawDesc(ref InputReader r)
        {
            int q = r.U8() % 3;
            byte index = r.U8();
            byte mode = r.U8();
            ulong addr = (mode & 1) != 0 ? r.U64() : GuestRam.HeapGpa + r.U16();
            uint len = (mode & 2) != 0 ? r.U32() : r.U8();
            ushort flags = (mode & 4) != 0 ? r.U16() : (ushort)(r.U8() % 8);
            ushort next = r.U8();
            bool table = (mode & 8) != 0;
            if (table)
            {
                // a descriptor inside an indirect table on the heap
                _q[q].WriteDescAt(GuestRam.HeapGpa + 16ul * r.U8(), index % 16, addr, len, flags, next);
            }
            else if (_q[q].Size > 0)
            {
                _q[q].WriteDesc((ushort)(index % _q[q].Size), addr, len, flags, next);
            }

            if (q == 0) _creditUnknown = true;
        }

        private void RawAvail(ref InputReader r)
        {
            var q = _q[r.U8() % 3];
            byte slot = r.U8();
            ushort head = r.U16();
            byte bump = r.U8();
            if (Verbose) Trace($"raw avail: queue {q.Index} slot {slot % Math.Max((int)q.Size, 1)} head {head} bump {bump}");
            q.WriteSlot(slot, head);
            if (bump >= 0xF0) q.SetAvailIdx(r.U16());
            else if (bump > 0) q.Bump(bump % 0x80);
            if (q.Index == 0) _creditUnknown = true;
        }

        private void RingFlags(ref InputReader r)
        {
            var q = _q[r.U8() % 3];
            byte which = r.U8();
            ushort value = r.U16();
            if ((which & 1) == 0) q.SetAvailFlags(value);
            else q.SetUsedEvent(value);
        }

        private void HostConnect(ref InputReader r)
        {
            byte b = r.U8();
            string line = (b & 3) switch
            {
                0 => $"CONNECT {5000 + b % 4}\n",
                1 => $"CONNECT {r.U32()}\n",
                2 => "CONNECT\n",
                _ => $"connect {b}x\n",
            };
            _peers.ConnectToDevice(line);
        }

        // ---- the guest's descriptor table and heap ----

        /// <summary>Makes a chain of <paramref name="buffers"/> available; false when the guest has no free
        /// descriptor or memory for it (it waits; the memory allocated for it is free again).</summary>
        private bool AddChain(int queue, List<(ulong Gpa, uint Len, bool Writable)> buffers, bool indirect)
        {
            var q = _q[queue];
            bool ok = q.Live && buffers.Count > 0 && !buffers.Exists(b => b.Gpa == NoMemory);
            int needed = indirect ? 1 : buffers.Count;
            var free = new List<ushort>();
            for (int i = 0; ok && i < q.Size && free.Count < needed; i++)
                if (!_descBusy[queue][i]) free.Add((ushort)i);
            ulong table = ok && indirect ? Allocate(16ul * (ulong)buffers.Count, 16) : 0;
            if (!ok || free.Count < needed || table == NoMemory)
            {
                FreeHeap(Building, Building);
                return false;
            }

            for (int i = 0; i < _heapLive.Count; i++)
                if (_heapLive[i].Head == Building) _heapLive[i] = _heapLive[i] with { Queue = queue, Head = free[0] };
            if (indirect)
            {
                for (int i = 0; i < buffers.Count; i++)
                {
                    bool last = i == buffers.Count - 1;
                    var b = buffers[i];
                    q.WriteDescAt(table, i, b.Gpa, b.Len, (ushort)((b.Writable ? DescWrite : 0) | (last ? 0 : DescNext)), (ushort)(i + 1));
                }

                q.WriteDesc(free[0], table, 16u * (uint)buffers.Count, DescIndirect, 0);
            }
            else
            {
                for (int i = 0; i < buffers.Count; i++)
                {
                    bool last = i == buffers.Count - 1;
                    var b = buffers[i];
                    q.WriteDesc(free[i], b.Gpa, b.Len, (ushort)((b.Writable ? DescWrite : 0) | (last ? 0 : DescNext)), last ? (ushort)0 : free[i + 1]);
                }
            }

            if (Verbose) Trace($"chain: queue {queue} head {free[0]} descriptors {string.Join(",", free)} {(indirect ? "indirect" : "direct")}");
            foreach (var d in free) _descBusy[queue][d] = true;
            _chainDescs[queue][free[0]] = free;
            if (queue == 0) _rxBuffers[free[0]] = buffers.FindAll(b => b.Writable).ConvertAll(b => (b.Gpa, b.Len));
            q.Publish(free[0]);
            return true;
        }

        private void FreeDescs(int queue, ushort head)
        {
            FreeHeap(queue, head);
            if (head >= _chainDescs[queue].Length || _chainDescs[queue][head] is not { } descs) return;
            foreach (var d in descs) _descBusy[queue][d] = false;
            _chainDescs[queue][head] = null;
        }

        /// <summary>Guest memory for a chain being built, or <see cref="NoMemory"/>. Like a real driver the
        /// guest never reuses what it gave the device until the device gives it back: the heap is taken in
        /// order, wrapping round, around the ranges of chains still outstanding (a chain that cannot get its
        /// memory is not made available: the guest waits).</summary>
        private ulong Allocate(ulong length, ulong alignment = 8)
        {
            const ulong end = GuestRam.HeapGpa + GuestRam.HeapSize;
            if (length > GuestRam.HeapSize) return NoMemory;
            ulong gpa = (_heapNext + alignment - 1) / alignment * alignment;
            bool wrapped = false;
            while (true)
            {
                if (gpa + length > end)
                {
                    if (wrapped) { if (Verbose) Trace($"heap: no {length} bytes free, the guest waits"); return NoMemory; }
                    wrapped = true;
                    gpa = GuestRam.HeapGpa;
                    continue;
                }

                ulong clash = 0;
                foreach (var r in _heapLive)
                    if (gpa < r.End && r.Gpa < gpa + Math.Max(length, 1)) clash = Math.Max(clash, r.End);
                if (clash == 0) break;
                gpa = (clash + alignment - 1) / alignment * alignment;
            }

            _heapLive.Add((gpa, gpa + length, Building, Building));
            _heapNext = gpa + length;
            return gpa;
        }

        /// <summary>The memory of a chain the device gave back (or never got) is the guest's again.</summary>
        private void FreeHeap(int queue, int head) => _heapLive.RemoveAll(r => r.Queue == queue && r.Head == head);

        public void Dispose()
        {
            if (_device is not null)
            {
                var m = _device.ConnectionCounters;
                _totals.ConnectionsOpened += m.ConnectionsOpened;
                _totals.BytesFromGuest += _device.Counters.TxPayloadBytes;
                for (uint i = 0; i < 3; i++)
                    if (_device.GetQueueCounters(i, out var c, out _) == 0) _totals.BadChains += c.BadChains;
            }

            _device?.Dispose();
        }
    }
}
