using System.Linq;
using Microsoft.CodeAnalysis;

namespace VsockNative.Generators.Abi;

/// <summary>Maps C# types of the exported surface to C (LP64: x86_64, aarch64).
/// Conventions: <c>sbyte*</c> is a C string (<c>const char *</c>); a [COpaque] struct is a handle
/// (<c>name *</c>); a [CCallback] struct is its function-pointer typedef; [CConst] on a pointer
/// parameter makes the pointee const.</summary>
internal static class CTypeMapper
{
    public const string Ns = "VsockNative.Interop";

    public readonly struct CType
    {
        public CType(string text, int size, int align) { Text = text; Size = size; Align = align; }
        public string Text { get; }
        public int Size { get; }
        public int Align { get; }
    }

    public static bool TryMap(ITypeSymbol type, bool isConst, out CType result, out string error)
    {
        error = "";
        switch (type)
        {
            case IPointerTypeSymbol p:
                if (p.PointedAtType.SpecialType == SpecialType.System_SByte)
                {
                    result = new CType("const char *", 8, 8);
                    return true;
                }
                if (!TryMap(p.PointedAtType, false, out var inner, out error)) { result = default; return false; }
                var pointee = isConst ? "const " + inner.Text : inner.Text;
                result = new CType(pointee.EndsWith("*") ? pointee + "*" : pointee + " *", 8, 8);
                return true;
            case IFunctionPointerTypeSymbol:
                result = default;
                error = "function pointers must be wrapped in a [CCallback] struct so the header can name them";
                return false;
        }
        var name = Attr(type, "CStructAttribute") ?? Attr(type, "CCallbackAttribute");
        if (name is not null)
        {
            if (Attr(type, "CCallbackAttribute") is not null) { result = new CType(name, 8, 8); return true; }
            var layout = AbiCollector.LayoutOf((INamedTypeSymbol)type, out error);
            result = layout is { } l ? new CType(name, l.Size, l.Align) : default;
            return layout is not null;
        }
        var opaque = Attr(type, "COpaqueAttribute");
        if (opaque is not null) { result = new CType(opaque + " *", 8, 8); return true; }
        result = type.SpecialType switch
        {
            SpecialType.System_Void => new CType("void", 0, 1),
            SpecialType.System_Byte => new CType("uint8_t", 1, 1),
            SpecialType.System_SByte => new CType("int8_t", 1, 1),
            SpecialType.System_UInt16 => new CType("uint16_t", 2, 2),
            SpecialType.System_Int16 => new CType("int16_t", 2, 2),
            SpecialType.System_UInt32 => new CType("uint32_t", 4, 4),
            SpecialType.System_Int32 => new CType("int32_t", 4, 4),
            SpecialType.System_UInt64 => new CType("uint64_t", 8, 8),
            SpecialType.System_Int64 => new CType("int64_t", 8, 8),
            SpecialType.System_IntPtr => new CType("intptr_t", 8, 8),
            SpecialType.System_UIntPtr => new CType("size_t", 8, 8),
            _ => default,
        };
        if (result.Text is null)
        {
            error = $"type '{type.ToDisplayString()}' has no C equivalent in the ABI";
            return false;
        }
        return true;
    }

    /// <summary>The first constructor argument of one of our attributes, or null.</summary>
    public static string? Attr(ISymbol symbol, string attributeName) =>
        symbol.GetAttributes()
            .FirstOrDefault(a => a.AttributeClass?.Name == attributeName && a.AttributeClass.ContainingNamespace.ToDisplayString() == Ns)
            ?.ConstructorArguments.FirstOrDefault().Value as string;

    public static bool HasAttr(ISymbol symbol, string attributeName) =>
        symbol.GetAttributes().Any(a => a.AttributeClass?.Name == attributeName && a.AttributeClass.ContainingNamespace.ToDisplayString() == Ns);

    /// <summary>"type name", with no space after a trailing '*'.</summary>
    public static string Declare(string ctype, string name) => ctype.EndsWith("*") ? ctype + name : ctype + " " + name;
}
