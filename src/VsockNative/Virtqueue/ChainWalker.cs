using System;
using VsockNative.Memory;

namespace VsockNative.Virtqueue;

/// <summary>
/// Walks one descriptor chain (virtio 1.2 §2.7.5, §2.7.5.3) into a caller-owned
/// <see cref="DescriptorChain"/>. Every descriptor is copied once before it is looked at, every
/// buffer goes through <see cref="GuestMemory.Translate"/>, and every walk is bounded by a
/// time-to-live equal to the size of the table being walked, so loops end.
/// </summary>
internal static unsafe class ChainWalker
{
    /// <summary>Most entries an indirect table can usefully have: <c>next</c> is a 16-bit index.</summary>
    private const int MaxIndirectEntries = 65536;

    /// <summary>Describes the chain starting at <paramref name="head"/>; never throws.</summary>
    /// <param name="memory">Guest memory the queue was configured with.</param>
    /// <param name="descTable">Host address of the queue's descriptor table.</param>
    /// <param name="queueSize">Entries in the descriptor table.</param>
    /// <param name="head">Head index read from the available ring (unchecked).</param>
    /// <param name="indirectAllowed">Whether VIRTIO_F_INDIRECT_DESC was negotiated.</param>
    /// <param name="chain">Receives the result; reset first.</param>
    public static ChainError Walk(GuestMemory memory, byte* descTable, int queueSize, ushort head,
        bool indirectAllowed, DescriptorChain chain)
    {
        chain.Begin(head);
        if (head >= queueSize)
            return chain.Fail(ChainError.HeadOutOfRange);

        byte* table = descTable;
        int tableSize = queueSize;
        int timeToLive = queueSize;
        int index = head;
        bool inIndirectTable = false;
        while (true)
        {
            if (timeToLive-- == 0)
                return chain.Fail(ChainError.ChainTooLong);
            VirtqDesc desc = VirtqDesc.Read(table + (nint)index * RingLayout.DescriptorSize);
            chain.CountDescriptor();

            if (desc.Has(VirtqDescFlags.Indirect))
            {
                ChainError indirectError = EnterIndirect(memory, desc, inIndirectTable, indirectAllowed, out nint indirectTable);
                if (indirectError != ChainError.None)
                    return chain.Fail(indirectError);
                chain.MarkIndirect();
                inIndirectTable = true;
                table = (byte*)indirectTable;
                tableSize = (int)(desc.Len / RingLayout.DescriptorSize);
                timeToLive = Math.Min(tableSize, MaxIndirectEntries);
                index = 0;
                continue;
            }

            ChainError bufferError = AddBuffer(memory, desc, chain);
            if (bufferError != ChainError.None)
                return chain.Fail(bufferError);
            if (!desc.Has(VirtqDescFlags.Next))
                return ChainError.None;
            if (desc.Next >= tableSize)
                return chain.Fail(ChainError.NextOutOfRange);
            index = desc.Next;
        }
    }

    /// <summary>Checks an indirect descriptor and translates its table (one region, whole table).</summary>
    private static ChainError EnterIndirect(GuestMemory memory, in VirtqDesc desc, bool alreadyIndirect,
        bool indirectAllowed, out nint table)
    {
        table = 0;
        if (!indirectAllowed)
            return ChainError.IndirectNotNegotiated;
        if (alreadyIndirect)
            return ChainError.NestedIndirect;
        if (desc.Has(VirtqDescFlags.Next))
            return ChainError.IndirectWithNext;
        if (desc.Len == 0)
            return ChainError.IndirectTableEmpty;
        if (desc.Len % RingLayout.DescriptorSize != 0)
            return ChainError.IndirectTableLengthInvalid;
        if (memory.TranslateContiguous(desc.Addr, desc.Len, out table) != TranslateError.None)
            return ChainError.IndirectTableOutOfMemory;
        return ChainError.None;
    }

    /// <summary>Translates one buffer descriptor into the readable or writable list.</summary>
    private static ChainError AddBuffer(GuestMemory memory, in VirtqDesc desc, DescriptorChain chain)
    {
        bool writable = desc.Has(VirtqDescFlags.Write);
        if (!writable && chain.SawWritable)
            return ChainError.ReadableAfterWritable;
        if (chain.TotalLength + desc.Len > uint.MaxValue)
            return ChainError.LengthOverflow;

        Span<Wire.IoVec> spare = writable ? chain.SpareWritable : chain.SpareReadable;
        TranslateError error = memory.Translate(desc.Addr, desc.Len, spare, out int segments);
        if (error != TranslateError.None)
            return ToChainError(error);
        if (writable)
            chain.AddWritable(segments, desc.Len);
        else
            chain.AddReadable(segments, desc.Len);
        return ChainError.None;
    }

    private static ChainError ToChainError(TranslateError error) => error switch
    {
        TranslateError.AddressWrap => ChainError.BufferAddressWrap,
        TranslateError.TooManySegments => ChainError.TooManySegments,
        _ => ChainError.BufferOutOfMemory,
    };
}
