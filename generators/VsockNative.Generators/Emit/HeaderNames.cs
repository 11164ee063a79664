using System.Collections.Generic;
using System.Linq;
using VsockNative.Generators.Model;

namespace VsockNative.Generators.Emit;

/// <summary>Every name the header declares (functions and their parameters, structs and fields,
/// typedefs, defines, spec structs, enums and feature bits, with and without the prefix), plus the
/// few words that look like C# names but are not (units). A doc-comment word on this list is C.</summary>
public static class HeaderNames
{
    private static readonly string[] Words = { "KiB", "MiB", "GiB" };

    public static EquatableArray<string> Of(SpecModel? spec, AbiModel abi)
    {
        var names = new SortedSet<string>(Words, System.StringComparer.Ordinal);
        foreach (var f in abi.Functions) { names.Add(f.Name); names.UnionWith(f.Params.Select(p => p.Name)); }
        foreach (var c in abi.Callbacks) { names.Add(c.CName); names.UnionWith(c.Params.Select(p => p.Name)); }
        foreach (var s in abi.Structs)
        {
            names.Add(s.CName);
            if (s.Alias.Length > 0) names.Add(s.Alias);
            foreach (var f in s.Fields) { names.Add(f.Name); names.Add(s.CName + "." + f.Name); }
        }
        names.UnionWith(abi.Opaques.Select(o => o.CName));
        names.UnionWith(abi.Defines.Select(d => d.Name));
        if (spec is not null)
        {
            foreach (var s in spec.Structs) { names.Add(s.Name); names.Add(Names.CStruct(s.Name)); names.UnionWith(s.Fields.Select(f => f.Name)); }
            foreach (var e in spec.Enums) { names.Add(e.Name); names.Add(Names.CStruct(e.Name)); foreach (var m in e.Members) { names.Add(m.Name); names.Add(Names.CMacro(m.Name)); } }
            foreach (var set in spec.FeatureSets) foreach (var b in set.Bits) { names.Add(b.Name); names.Add(Names.CMacro(b.Name)); }
        }
        return new EquatableArray<string>(names.ToArray());
    }
}
