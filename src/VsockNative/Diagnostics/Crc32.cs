using System;

namespace VsockNative.Diagnostics;

/// <summary>CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320, initial and final value 0xFFFFFFFF):
/// the checksum of zlib, PNG and Ethernet, so any tool can check a blob the device wrote.</summary>
internal static class Crc32
{
    private static readonly uint[] Table = MakeTable();

    public static uint Compute(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFF_FFFF;
        foreach (byte b in data) crc = Table[(crc ^ b) & 0xFF] ^ (crc >> 8);
        return ~crc;
    }

    private static uint[] MakeTable()
    {
        var t = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            uint c = i;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1;
            t[i] = c;
        }
        return t;
    }
}
