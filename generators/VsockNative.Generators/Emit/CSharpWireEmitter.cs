using System.Globalization;
using System.Linq;
using VsockNative.Generators.Model;

namespace VsockNative.Generators.Emit;

/// <summary>Emits the C# side of the wire format: for every spec struct a view over one span and a
/// view over a scatter list of guest buffers (fields read and written in place, little-endian, no
/// copies, no allocations), the enums, the feature bits, and <c>IoVec</c> (C's struct iovec).</summary>
public static class CSharpWireEmitter
{
    public const string Namespace = "VsockNative.Wire";

    public static string EmitSupport() => Header()
        .Open("/// <summary>One host buffer: the layout of C's <c>struct iovec</c>, so a list of these can be\n/// handed to readv/writev as is.</summary>\n[global::System.Runtime.InteropServices.StructLayout(global::System.Runtime.InteropServices.LayoutKind.Sequential)]\npublic struct IoVec")
        .Line("/// <summary>Host address of the first byte.</summary>")
        .Line("public nint Base;")
        .Line("/// <summary>Length in bytes.</summary>")
        .Line("public nuint Length;")
        .Line("public IoVec(nint @base, nuint length) { Base = @base; Length = length; }")
        .Close()
        .Line()
        .Open("/// <summary>Gather and scatter at a byte offset of a list of host buffers. The caller guarantees\n/// every IoVec points at memory it may access (the memory layer's translation checked it).</summary>\npublic static unsafe class ScatterIo")
        .Line("/// <summary>Sum of the lengths.</summary>")
        .Open("public static ulong TotalLength(global::System.ReadOnlySpan<IoVec> segments)")
        .Line("ulong total = 0;")
        .Line("foreach (var s in segments) total += s.Length;")
        .Line("return total;")
        .Close()
        .Line("/// <summary>Copies <paramref name=\"destination\"/>.Length bytes starting at <paramref name=\"offset\"/>.</summary>")
        .Open("public static void Gather(global::System.ReadOnlySpan<IoVec> segments, int offset, global::System.Span<byte> destination)")
        .Line("int done = 0;")
        .Open("foreach (var s in segments)")
        .Line("if (done == destination.Length) return;")
        .Line("if ((ulong)offset >= s.Length) { offset -= (int)s.Length; continue; }")
        .Line("int n = (int)global::System.Math.Min(s.Length - (ulong)offset, (ulong)(destination.Length - done));")
        .Line("new global::System.ReadOnlySpan<byte>((byte*)s.Base + offset, n).CopyTo(destination.Slice(done));")
        .Line("done += n;")
        .Line("offset = 0;")
        .Close()
        .Line("if (done != destination.Length) ThrowTooShort();")
        .Close()
        .Line("/// <summary>Copies <paramref name=\"source\"/> into the buffers starting at <paramref name=\"offset\"/>.</summary>")
        .Open("public static void Scatter(global::System.ReadOnlySpan<IoVec> segments, int offset, global::System.ReadOnlySpan<byte> source)")
        .Line("int done = 0;")
        .Open("foreach (var s in segments)")
        .Line("if (done == source.Length) return;")
        .Line("if ((ulong)offset >= s.Length) { offset -= (int)s.Length; continue; }")
        .Line("int n = (int)global::System.Math.Min(s.Length - (ulong)offset, (ulong)(source.Length - done));")
        .Line("source.Slice(done, n).CopyTo(new global::System.Span<byte>((byte*)s.Base + offset, n));")
        .Line("done += n;")
        .Line("offset = 0;")
        .Close()
        .Line("if (done != source.Length) ThrowTooShort();")
        .Close()
        .Line("internal static void ThrowTooShort() => throw new global::System.ArgumentException(\"the buffers are shorter than the wire struct\");")
        .Close()
        .ToString();

    public static string EmitStruct(StructDef s)
    {
        var name = Names.Pascal(s.Name);
        var w = Header();
        w.Open($"/// <summary><c>struct {s.Name}</c>: {s.Size} bytes, packed, little-endian, over one contiguous span.</summary>\npublic readonly ref struct {name}");
        w.Line($"/// <summary>Size of the struct on the wire.</summary>");
        w.Line($"public const int Size = {s.Size};");
        foreach (var f in s.Fields)
            w.Line($"/// <summary>Offset of <c>{f.Name}</c> ({f.Size} bytes).</summary>").Line($"public const int {Names.Pascal(f.Name)}Offset = {f.Offset};");
        w.Line("private readonly global::System.Span<byte> _bytes;");
        w.Line($"/// <summary>A view over the first {s.Size} bytes of <paramref name=\"bytes\"/>.</summary>");
        w.Open($"public {name}(global::System.Span<byte> bytes)");
        w.Line("if (bytes.Length < Size) ScatterIo.ThrowTooShort();");
        w.Line("_bytes = bytes;");
        w.Close();
        w.Line("/// <summary>The struct's bytes.</summary>");
        w.Line("public global::System.Span<byte> Bytes => _bytes.Slice(0, Size);");
        foreach (var f in s.Fields)
        {
            var (type, rw) = Scalar(f.Type);
            var slice = $"_bytes.Slice({Names.Pascal(f.Name)}Offset, {f.Size})";
            w.Line($"/// <summary><c>{f.Name}</c> ({Spelled(f.Type)} at offset {f.Offset}).</summary>");
            w.Open($"public {type} {Names.Pascal(f.Name)}");
            if (f.Type == WireType.U8)
                w.Line($"get => _bytes[{f.Offset}];").Line($"set => _bytes[{f.Offset}] = value;");
            else
                w.Line($"get => global::System.Buffers.Binary.BinaryPrimitives.Read{rw}LittleEndian({slice});")
                 .Line($"set => global::System.Buffers.Binary.BinaryPrimitives.Write{rw}LittleEndian({slice}, value);");
            w.Close();
        }
        w.Close().Line();

        w.Open($"/// <summary><c>struct {s.Name}</c> ({s.Size} bytes) spread over several host buffers, split at any\n/// byte. Each field is gathered or scattered in place; nothing is allocated.</summary>\npublic readonly ref struct {name}Scatter");
        w.Line("private readonly global::System.ReadOnlySpan<IoVec> _segments;");
        w.Line($"/// <summary>A view over the first {s.Size} bytes of <paramref name=\"segments\"/>.</summary>");
        w.Open($"public {name}Scatter(global::System.ReadOnlySpan<IoVec> segments)");
        w.Line($"if (ScatterIo.TotalLength(segments) < {name}.Size) ScatterIo.ThrowTooShort();");
        w.Line("_segments = segments;");
        w.Close();
        w.Line("/// <summary>Copies the whole struct out (read the header once, then decide on the copy).</summary>");
        w.Line($"public void CopyTo(global::System.Span<byte> destination) => ScatterIo.Gather(_segments, 0, destination.Slice(0, {name}.Size));");
        w.Line("/// <summary>Writes the whole struct from a contiguous copy.</summary>");
        w.Line($"public void CopyFrom(global::System.ReadOnlySpan<byte> source) => ScatterIo.Scatter(_segments, 0, source.Slice(0, {name}.Size));");
        foreach (var f in s.Fields)
        {
            var (type, rw) = Scalar(f.Type);
            var off = $"{name}.{Names.Pascal(f.Name)}Offset";
            w.Line($"/// <summary><c>{f.Name}</c> ({Spelled(f.Type)} at offset {f.Offset}).</summary>");
            w.Open($"public {type} {Names.Pascal(f.Name)}");
            if (f.Type == WireType.U8)
            {
                w.Line($"get {{ global::System.Span<byte> b = stackalloc byte[1]; ScatterIo.Gather(_segments, {off}, b); return b[0]; }}");
                w.Line($"set {{ global::System.Span<byte> b = stackalloc byte[1]; b[0] = value; ScatterIo.Scatter(_segments, {off}, b); }}");
            }
            else
            {
                w.Line($"get {{ global::System.Span<byte> b = stackalloc byte[{f.Size}]; ScatterIo.Gather(_segments, {off}, b); return global::System.Buffers.Binary.BinaryPrimitives.Read{rw}LittleEndian(b); }}");
                w.Line($"set {{ global::System.Span<byte> b = stackalloc byte[{f.Size}]; global::System.Buffers.Binary.BinaryPrimitives.Write{rw}LittleEndian(b, value); ScatterIo.Scatter(_segments, {off}, b); }}");
            }
            w.Close();
        }
        w.Close();
        return w.ToString();
    }

    public static string EmitConstants(SpecModel model)
    {
        var w = Header();
        foreach (var e in model.Enums)
        {
            var (type, _) = Scalar(e.Underlying);
            var names = Names.EnumMembers(e.Name, e.Members.Select(m => m.Name).ToArray());
            w.Open($"/// <summary><c>enum {e.Name}</c>.</summary>\npublic enum {Names.Pascal(e.Name)} : {type}");
            for (int i = 0; i < e.Members.Count; i++)
                w.Line($"/// <summary><c>{e.Members[i].Name}</c></summary>").Line($"{names[i]} = {e.Members[i].Value.ToString(CultureInfo.InvariantCulture)},");
            w.Close().Line();
        }
        foreach (var set in model.FeatureSets)
        {
            w.Open($"/// <summary>Feature bits <c>{set.Name}</c>: <c>XBit</c> is the bit number, <c>X</c> the mask.</summary>\npublic static class {Names.Pascal(set.Name)}");
            foreach (var b in set.Bits)
            {
                var n = Names.Feature(b.Name);
                var doc = b.Description.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;");
                w.Line($"/// <summary><c>{b.Name}</c> ({b.Bit}): {doc}</summary>").Line($"public const int {n}Bit = {b.Bit};");
                w.Line($"/// <summary>Mask of <c>{b.Name}</c>.</summary>").Line($"public const ulong {n} = 1UL << {b.Bit};");
            }
            w.Close().Line();
        }
        return w.ToString();
    }

    private static (string Type, string Rw) Scalar(WireType t) => t switch
    {
        WireType.U8 => ("byte", "Byte"),
        WireType.Le16 => ("ushort", "UInt16"),
        WireType.Le32 => ("uint", "UInt32"),
        _ => ("ulong", "UInt64"),
    };

    private static string Spelled(WireType t) => t == WireType.U8 ? "u8" : "le" + ((int)t * 8).ToString(CultureInfo.InvariantCulture);

    private static CodeWriter Header() => new CodeWriter()
        .Line("// <auto-generated> by VsockNative.Generators from the spec description. Do not edit. </auto-generated>")
        .Line("#nullable enable")
        .Line($"namespace {Namespace};")
        .Line();
}
