using System;
using VsockNative.Protocol;
using VsockNative.Wire;
using Xunit;

namespace VsockNative.Tests.Protocol;

public class PacketHeaderTests
{
    private static readonly PacketHeader Sample =
        new(0x0102030405060708, 0x1112131415161718, 0x21222324, 0x31323334, 0x41424344, 0x5152, 0x6162, 0x71727374, 0x81828384, 0x91929394);

    [Fact]
    public void Write_puts_every_field_at_its_spec_offset_little_endian()
    {
        var bytes = new byte[VirtioVsockHdr.Size];
        Sample.Write(bytes);
        var view = new VirtioVsockHdr(bytes);
        Assert.Equal(Sample.SrcCid, view.SrcCid);
        Assert.Equal(Sample.DstCid, view.DstCid);
        Assert.Equal(Sample.SrcPort, view.SrcPort);
        Assert.Equal(Sample.DstPort, view.DstPort);
        Assert.Equal(Sample.Len, view.Len);
        Assert.Equal(Sample.Type, view.Type);
        Assert.Equal(Sample.Op, view.Op);
        Assert.Equal(Sample.Flags, view.Flags);
        Assert.Equal(Sample.BufAlloc, view.BufAlloc);
        Assert.Equal(Sample.FwdCnt, view.FwdCnt);
        Assert.Equal(0x08, bytes[0]); // le64 src_cid: low byte first
        Assert.Equal(0x94, bytes[40]); // le32 fwd_cnt at 40
    }

    [Fact]
    public void Read_is_the_inverse_of_Write()
    {
        var bytes = new byte[VirtioVsockHdr.Size + 3];
        Sample.Write(bytes);
        PacketHeader back = PacketHeader.Read(bytes);
        Assert.Equal(Sample.ToString(), back.ToString());
        Assert.Equal(Sample.FwdCnt, back.FwdCnt);
    }

    [Fact]
    public void A_header_split_at_every_byte_round_trips_through_iovecs()
    {
        using var mem = new NativeBuffers();
        for (int cut = 1; cut < VirtioVsockHdr.Size; cut++)
        {
            IoVec[] v = mem.Split(VirtioVsockHdr.Size, cut);
            Sample.Write(v);
            Assert.Equal(Sample.ToString(), PacketHeader.Read(v).ToString());
        }

        IoVec[] many = mem.Split(VirtioVsockHdr.Size, 1, 2, 9, 10, 17, 30, 31, 43);
        Sample.Write(many);
        Assert.Equal(Sample.ToString(), PacketHeader.Read(many).ToString());
    }

    [Fact]
    public void Too_short_buffers_are_rejected()
    {
        Assert.Throws<ArgumentException>(() => PacketHeader.Read(new byte[43]));
        using var mem = new NativeBuffers();
        IoVec[] v = mem.Split(43, 20);
        Assert.Throws<ArgumentException>(() => PacketHeader.Read(v));
    }
}
