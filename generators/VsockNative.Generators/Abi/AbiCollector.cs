using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Runtime.InteropServices;
using Microsoft.CodeAnalysis;
using VsockNative.Generators.Model;

namespace VsockNative.Generators.Abi;

/// <summary>Turns exported C# symbols into equatable ABI records (no symbols kept), or into a
/// diagnostic saying why the symbol cannot be described in C.</summary>
internal static class AbiCollector
{
    public const string Prefix = "vsn_";
    public const string MacroPrefix = "VSN_";

    public static AbiItem<AbiFunction>? Function(IMethodSymbol method, AttributeData unmanagedCallersOnly)
    {
        var entry = unmanagedCallersOnly.NamedArguments.FirstOrDefault(a => a.Key == "EntryPoint").Value.Value as string;
        if (entry is null) return null;  // not exported from the shared library
        if (!entry.StartsWith(Prefix, System.StringComparison.Ordinal))
            return Fail<AbiFunction>(method, AbiDiagnosticIds.MissingPrefix, $"exported function '{entry}' must start with '{Prefix}'");
        if (!CTypeMapper.TryMap(method.ReturnType, false, out var ret, out var error))
            return Fail<AbiFunction>(method, AbiDiagnosticIds.UnsupportedType, $"return type of '{entry}': {error}");
        var ps = new List<AbiParam>();
        foreach (var p in method.Parameters)
        {
            if (!CTypeMapper.TryMap(p.Type, CTypeMapper.HasAttr(p, "CConstAttribute"), out var ct, out error))
                return Fail<AbiFunction>(p, AbiDiagnosticIds.UnsupportedType, $"parameter '{p.Name}' of '{entry}': {error}");
            ps.Add(new AbiParam(ct.Text, p.Name));
        }
        return Ok(new AbiFunction(entry, ret.Text, EquatableArray.From(ps), DocComment.ToPlain(method.GetDocumentationCommentXml()), PlaceOf(method)));
    }

    public static AbiItem<AbiStruct> Struct(INamedTypeSymbol type, AttributeData attr)
    {
        var cName = attr.ConstructorArguments[0].Value as string ?? "";
        if (!cName.StartsWith(Prefix, System.StringComparison.Ordinal))
            return Fail<AbiStruct>(type, AbiDiagnosticIds.MissingPrefix, $"C struct name '{cName}' must start with '{Prefix}'");
        var layout = LayoutOf(type, out var error);
        if (layout is null) return Fail<AbiStruct>(type, AbiDiagnosticIds.UnsupportedLayout, error);
        var alias = attr.NamedArguments.FirstOrDefault(a => a.Key == "DeprecatedAlias").Value.Value as string ?? "";
        var since = attr.NamedArguments.FirstOrDefault(a => a.Key == "DeprecatedSince").Value.Value as string ?? "";
        if (alias.Length > 0 && !alias.StartsWith(Prefix, System.StringComparison.Ordinal))
            return Fail<AbiStruct>(type, AbiDiagnosticIds.MissingPrefix, $"C struct alias '{alias}' must start with '{Prefix}'");
        return Ok(new AbiStruct(cName, type.ToDisplayString(), EquatableArray.From(layout.Fields), layout.Size,
            DocComment.ToPlain(type.GetDocumentationCommentXml()), PlaceOf(type), alias, since));
    }

    public static AbiItem<AbiOpaque> Opaque(INamedTypeSymbol type, string cName) =>
        !cName.StartsWith(Prefix, System.StringComparison.Ordinal)
            ? Fail<AbiOpaque>(type, AbiDiagnosticIds.MissingPrefix, $"handle name '{cName}' must start with '{Prefix}'")
            : Ok(new AbiOpaque(cName, DocComment.ToPlain(type.GetDocumentationCommentXml()), PlaceOf(type)));

    public static AbiItem<AbiCallback> Callback(INamedTypeSymbol type, AttributeData attr)
    {
        var cName = attr.ConstructorArguments[0].Value as string ?? "";
        var names = attr.ConstructorArguments.Length > 1
            ? attr.ConstructorArguments[1].Values.Select(v => v.Value as string ?? "").ToArray()
            : new string[0];
        if (!cName.StartsWith(Prefix, System.StringComparison.Ordinal))
            return Fail<AbiCallback>(type, AbiDiagnosticIds.MissingPrefix, $"callback name '{cName}' must start with '{Prefix}'");
        var fields = type.GetMembers().OfType<IFieldSymbol>().Where(f => !f.IsStatic).ToList();
        if (fields.Count != 1 || fields[0].Type is not IFunctionPointerTypeSymbol fp)
            return Fail<AbiCallback>(type, AbiDiagnosticIds.UnsupportedType, $"[CCallback] struct '{type.Name}' must hold exactly one unmanaged function pointer field");
        var sig = fp.Signature;
        if (!CTypeMapper.TryMap(sig.ReturnType, false, out var ret, out var error))
            return Fail<AbiCallback>(type, AbiDiagnosticIds.UnsupportedType, $"callback '{cName}': {error}");
        var ps = new List<AbiParam>();
        for (int i = 0; i < sig.Parameters.Length; i++)
        {
            if (!CTypeMapper.TryMap(sig.Parameters[i].Type, false, out var ct, out error))
                return Fail<AbiCallback>(type, AbiDiagnosticIds.UnsupportedType, $"callback '{cName}' parameter {i}: {error}");
            ps.Add(new AbiParam(ct.Text, i < names.Length ? names[i] : "arg" + i.ToString(CultureInfo.InvariantCulture)));
        }
        return Ok(new AbiCallback(cName, ret.Text, EquatableArray.From(ps), DocComment.ToPlain(type.GetDocumentationCommentXml()), PlaceOf(type)));
    }

    public static AbiItem<AbiDefine> Define(IFieldSymbol field, string name)
    {
        if (!name.StartsWith(MacroPrefix, System.StringComparison.Ordinal))
            return Fail<AbiDefine>(field, AbiDiagnosticIds.MissingPrefix, $"define '{name}' must start with '{MacroPrefix}'");
        if (!field.HasConstantValue)
            return Fail<AbiDefine>(field, AbiDiagnosticIds.UnsupportedType, $"[CDefine] '{name}' must be a const field");
        var value = field.ConstantValue switch
        {
            ulong u => u.ToString(CultureInfo.InvariantCulture) + "ull",
            long l => l.ToString(CultureInfo.InvariantCulture) + "ll",
            uint u => u.ToString(CultureInfo.InvariantCulture) + "u",
            int i => i.ToString(CultureInfo.InvariantCulture),
            string s => "\"" + s.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"",
            var v => System.Convert.ToString(v, CultureInfo.InvariantCulture) ?? "",
        };
        return Ok(new AbiDefine(name, value, DocComment.ToPlain(field.GetDocumentationCommentXml()), PlaceOf(field)));
    }

    public sealed class Layout
    {
        public List<AbiField> Fields { get; } = new();
        public int Size { get; set; }
        public int Align { get; set; } = 1;
    }

    /// <summary>C layout of a sequential struct under LP64 natural alignment, or null with a reason.</summary>
    public static Layout? LayoutOf(INamedTypeSymbol type, out string error)
    {
        error = "";
        var structLayout = type.GetAttributes().FirstOrDefault(a => a.AttributeClass?.ToDisplayString() == "System.Runtime.InteropServices.StructLayoutAttribute");
        if (structLayout is not null &&
            ((structLayout.ConstructorArguments.FirstOrDefault().Value is int kind && kind != (int)LayoutKind.Sequential) ||
             structLayout.NamedArguments.Any(a => a.Key == "Pack" || a.Key == "Size")))
        {
            error = $"[CStruct] '{type.Name}' must use the default sequential layout without Pack or Size";
            return null;
        }
        var layout = new Layout();
        foreach (var f in type.GetMembers().OfType<IFieldSymbol>().Where(f => !f.IsStatic && !f.IsConst))
        {
            if (!CTypeMapper.TryMap(f.Type, CTypeMapper.HasAttr(f, "CConstAttribute"), out var ct, out error))
            {
                error = $"field '{f.Name}' of '{type.Name}': {error}";
                return null;
            }
            int offset = (layout.Size + ct.Align - 1) / ct.Align * ct.Align;
            layout.Fields.Add(new AbiField(ct.Text, CName(f), f.Name, offset, ct.Size, DocComment.ToPlain(f.GetDocumentationCommentXml())));
            layout.Size = offset + ct.Size;
            if (ct.Align > layout.Align) layout.Align = ct.Align;
        }
        layout.Size = (layout.Size + layout.Align - 1) / layout.Align * layout.Align;
        return layout;
    }

    /// <summary>C field names are the C# names in snake_case (StructSize -> struct_size).</summary>
    public static string CName(IFieldSymbol f) => SnakeCase(f.Name);

    public static string SnakeCase(string name)
    {
        var sb = new System.Text.StringBuilder();
        for (int i = 0; i < name.Length; i++)
        {
            char c = name[i];
            if (char.IsUpper(c) && i > 0 && (char.IsLower(name[i - 1]) || char.IsDigit(name[i - 1]))) sb.Append('_');
            sb.Append(char.ToLowerInvariant(c));
        }
        return sb.ToString();
    }

    /// <summary>The item's place from [CSection] on it (or, for a constant, on its class): the section
    /// enum's value and the summary of its member as heading. Member order is the index among the
    /// class's members, never a source offset.</summary>
    public static AbiPlace PlaceOf(ISymbol s)
    {
        var attr = SectionOf(s) ?? (s is IFieldSymbol ? SectionOf(s.ContainingType) : null);
        int index = s is IFieldSymbol ? MemberIndex(s) : 0;
        if (attr is null || attr.ConstructorArguments.Length == 0 || attr.ConstructorArguments[0].Value is not int section)
            return AbiPlace.None with { Index = index };
        int order = attr.ConstructorArguments.Length > 1 && attr.ConstructorArguments[1].Value is int o ? o : 0;
        var member = (attr.ConstructorArguments[0].Type as INamedTypeSymbol)?.GetMembers().OfType<IFieldSymbol>()
            .FirstOrDefault(m => m.HasConstantValue && Equals(m.ConstantValue, section));
        var title = member is null ? "" : DocComment.ToPlain(member.GetDocumentationCommentXml());
        return new AbiPlace(section, title.Length > 0 ? title : member?.Name ?? "", order, index);
    }

    private static int MemberIndex(ISymbol s)
    {
        var members = s.ContainingType.GetMembers();
        for (int i = 0; i < members.Length; i++)
            if (SymbolEqualityComparer.Default.Equals(members[i], s)) return i;
        return 0;
    }

    private static AttributeData? SectionOf(ISymbol s) =>
        s.GetAttributes().FirstOrDefault(a => a.AttributeClass?.ToDisplayString() == CTypeMapper.Ns + ".CSectionAttribute");

    private static AbiItem<T> Ok<T>(T value) where T : class => new(value, null);

    private static AbiItem<T> Fail<T>(ISymbol s, string id, string message) where T : class =>
        new(null, At(s.Locations.FirstOrDefault(), id, message));

    /// <summary>A diagnostic record at a source location (file, span, lines).</summary>
    public static AbiDiagnostic At(Location? loc, string id, string message)
    {
        var span = loc?.GetLineSpan();
        return new AbiDiagnostic(id, message, loc?.SourceTree?.FilePath ?? "",
            loc?.SourceSpan.Start ?? 0, loc?.SourceSpan.Length ?? 0,
            span?.StartLinePosition.Line ?? 0, span?.StartLinePosition.Character ?? 0,
            span?.EndLinePosition.Line ?? 0, span?.EndLinePosition.Character ?? 0);
    }
}
