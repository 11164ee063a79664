using System;
using System.Collections.Generic;
using FsCheck;
using FsCheck.Fluent;
using VsockNative.Memory;
using VsockNative.Tests.Virtqueue;
using VsockNative.Virtqueue;

namespace VsockNative.Tests.Properties;

/// <summary>Chain walking over descriptor tables the guest filled at random (addresses inside, across,
/// between and outside the regions; any flags; any next; indirect tables): the walk always ends, never
/// throws, and a chain it accepts lies wholly in guest memory, readable before writable, within the
/// segment budget; a chain it rejects has no segments. Undo of a pop gives the same chain back.</summary>
public sealed class ChainWalkProperties
{
    private const ushort Size = 16;

    private static readonly ulong[] Places =
    {
        QueueFixture.R1, QueueFixture.R1 + 0xFFF0, QueueFixture.R2 - 8, QueueFixture.Gap, QueueFixture.R3,
        QueueFixture.R3End - 4, ulong.MaxValue - 16, 0x1000,
        // (not the fixture's unbacked BIG region: an indirect table there would be read from a fake address)
    };

    private static Gen<(ulong Addr, uint Len, ushort Flags, ushort Next)> Descriptor =>
        from place in Gen.Elements(Places)
        from offset in Gen.Choose(0, 64)
        from len in Gen.OneOf(Gen.Choose(0, 64), Gen.Choose(0, 0x20000), Gen.Constant(int.MaxValue))
        from flags in Gen.Choose(0, 7)
        from next in Gen.Choose(0, Size + 2)
        select (place + (ulong)offset, (uint)len, (ushort)flags, (ushort)next);

    [Xunit.Fact]
    public void Any_descriptor_table_walks_to_a_chain_in_memory_or_a_rejection()
    {
        var gen = from table in Descriptor.ArrayOf(Size)
                  from heads in Gen.Choose(0, Size + 3).ArrayOf(4)
                  from indirect in Gen.Elements(true, false)
                  select (table, heads, indirect);
        Prop.ForAll(gen.ToArbitrary(), t => Walk(t.table, t.heads, t.indirect) is not { } why
            ? true : throw new InvalidOperationException(why)).Check(Config.QuickThrowOnFailure.WithMaxTest(300));
    }

    private static string? Walk((ulong Addr, uint Len, ushort Flags, ushort Next)[] table, int[] heads, bool indirect)
    {
        using var f = new QueueFixture(indirect ? VirtqFeatures.IndirectDesc : VirtqFeatures.None, Size, maxSegments: 8);
        for (int i = 0; i < table.Length; i++)
            f.Driver.WriteDesc(i, table[i].Addr, table[i].Len, table[i].Flags, table[i].Next);
        foreach (var h in heads) f.Driver.MakeAvailable((ushort)h);
        var seen = new List<string>();
        for (int round = 0; round < heads.Length + 1; round++)
        {
            var result = f.Queue.Pop(f.Chain);
            if (result == PopResult.Empty) return seen.Count == heads.Length ? null : $"empty after {seen.Count} of {heads.Length} pops";
            if (result != PopResult.Chain && result != PopResult.BadChain) return $"pop {round}: {result}";
            if (f.Chain.HeadIndex >= Size && result == PopResult.Chain) return $"a good chain with head {f.Chain.HeadIndex}";
            if (result == PopResult.BadChain)
            {
                if (f.Chain.ReadableCount + f.Chain.WritableCount != 0) return "a bad chain kept segments";
                if (f.Queue.UndoPop(f.Chain) != QueueError.NothingToUndo) return "a bad chain was given back";
                seen.Add("bad");
                continue;
            }
            if (f.Chain.ReadableCount > 8 || f.Chain.WritableCount > 8) return "more segments than the budget";
            foreach (var seg in f.Chain.Readable)
                if (!Inside(f, seg)) return "a readable segment outside guest memory";
            foreach (var seg in f.Chain.Writable)
                if (!Inside(f, seg)) return "a writable segment outside guest memory";
            // give it back and take it again: the same chain
            uint r = f.Chain.ReadableLength, w = f.Chain.WritableLength;
            ushort head = f.Chain.HeadIndex;
            if (f.Queue.UndoPop(f.Chain) != QueueError.None) return "undo of a good pop refused";
            if (f.Queue.Pop(f.Chain) != PopResult.Chain || f.Chain.HeadIndex != head || f.Chain.ReadableLength != r || f.Chain.WritableLength != w)
                return "the chain given back came back different";
            seen.Add("good");
        }
        return "more chains popped than were made available";
    }

    private static unsafe bool Inside(QueueFixture f, Wire.IoVec seg)
    {
        // every segment must be a host range inside one backed region of the fixture
        foreach (var region in f.Memory.Memory.Regions)
        {
            if (region.HostAddress == 0) continue;
            ulong start = (ulong)region.HostAddress, end = start + region.Size;
            ulong s = (ulong)seg.Base, e = s + (ulong)seg.Length;
            if (s >= start && e <= end && e >= s) return true;
        }
        return false;
    }
}
