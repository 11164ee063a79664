namespace VsockNative.Generators.Model;

/// <summary>Where an item goes in the header, from its [CSection]: the section's number and heading
/// (the summary of the section's enum member), the item's order in the section, and its index among
/// the members of its class (defines keep member order). No source positions: a moved or edited
/// comment does not move the item.</summary>
public sealed record AbiPlace(int Section, string Title, int Order, int Index)
{
    /// <summary>Items without [CSection] go last, under no heading.</summary>
    public static readonly AbiPlace None = new(int.MaxValue, "", 0, 0);
}

/// <summary>A function the library exports ([UnmanagedCallersOnly(EntryPoint = "...")]).</summary>
public sealed record AbiFunction(string Name, string ReturnType, EquatableArray<AbiParam> Params, string Doc, AbiPlace Place);

public sealed record AbiParam(string CType, string Name);

/// <summary>A C# struct the caller fills or reads ([CStruct]); offsets use the C rules for LP64.
/// <see cref="Alias"/> is a former name kept as a deprecated typedef ("" for none).</summary>
public sealed record AbiStruct(string CName, string CSharpName, EquatableArray<AbiField> Fields, int Size, string Doc, AbiPlace Place,
    string Alias = "", string AliasSince = "");

public sealed record AbiField(string CType, string Name, string CSharpName, int Offset, int Size, string Doc);

/// <summary>A handle type the C side sees only as a pointer to an incomplete struct ([COpaque]).</summary>
public sealed record AbiOpaque(string CName, string Doc, AbiPlace Place);

/// <summary>A callback typedef ([CCallback] on a struct that wraps one unmanaged function pointer).</summary>
public sealed record AbiCallback(string CName, string ReturnType, EquatableArray<AbiParam> Params, string Doc, AbiPlace Place);

/// <summary>A #define from a C# constant ([CDefine]).</summary>
public sealed record AbiDefine(string Name, string Value, string Doc, AbiPlace Place);

/// <summary>A problem found in the exported C# code, with a position in a source file.</summary>
public sealed record AbiDiagnostic(string Id, string Message, string Path, int Start, int Length, int Line, int Column, int EndLine, int EndColumn);

/// <summary>One collected ABI item, or the reason it could not be described in C.</summary>
public sealed record AbiItem<T>(T? Value, AbiDiagnostic? Error) where T : class;

/// <summary>A word in a doc comment that goes into the header and looks like a C# identifier
/// (PascalCase, a dotted name with a capitalised part, a C# type keyword, a cref), with where it is.
/// It becomes a VSN0103 warning unless the header declares that name.</summary>
public sealed record DocSuspect(string Word, AbiDiagnostic Diagnostic);

/// <summary>What the transform of one attributed symbol yields: the item for the header, and the
/// suspect words of its doc comments, which carry positions and so go only to diagnostics.</summary>
public sealed record Collected<T>(AbiItem<T> Item, EquatableArray<DocSuspect> Suspects) where T : class;

/// <summary>Everything of the C ABI that goes into the header.</summary>
public sealed record AbiModel(
    EquatableArray<AbiDefine> Defines,
    EquatableArray<AbiOpaque> Opaques,
    EquatableArray<AbiCallback> Callbacks,
    EquatableArray<AbiStruct> Structs,
    EquatableArray<AbiFunction> Functions);
