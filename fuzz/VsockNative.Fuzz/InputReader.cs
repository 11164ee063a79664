namespace VsockNative.Fuzz;

/// <summary>Reads the fuzz input front to back; past its end every read is 0 and <see cref="End"/> is set.</summary>
internal ref struct InputReader
{
    private readonly System.ReadOnlySpan<byte> _data;
    private int _at;

    public InputReader(System.ReadOnlySpan<byte> data)
    {
        _data = data;
        _at = 0;
    }

    public readonly bool End => _at >= _data.Length;

    public byte U8() => _at < _data.Length ? _data[_at++] : (byte)0;

    public ushort U16() => (ushort)(U8() | U8() << 8);

    public uint U32() => U16() | (uint)U16() << 16;

    public ulong U64() => U32() | (ulong)U32() << 32;
}
