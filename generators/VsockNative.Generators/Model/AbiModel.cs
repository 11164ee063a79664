namespace VsockNative.Generators.Model;

/// <summary>A function the library exports ([UnmanagedCallersOnly(EntryPoint = "...")]).
/// <see cref="Order"/> keeps the header in source order (file path, then position).</summary>
public sealed record AbiFunction(string Name, string ReturnType, EquatableArray<AbiParam> Params, string Doc, string Order);

public sealed record AbiParam(string CType, string Name);

/// <summary>A C# struct the caller fills or reads ([CStruct]); offsets use the C rules for LP64.</summary>
public sealed record AbiStruct(string CName, string CSharpName, EquatableArray<AbiField> Fields, int Size, string Doc, string Order);

public sealed record AbiField(string CType, string Name, string CSharpName, int Offset, int Size, string Doc);

/// <summary>A handle type the C side sees only as a pointer to an incomplete struct ([COpaque]).</summary>
public sealed record AbiOpaque(string CName, string Doc, string Order);

/// <summary>A callback typedef ([CCallback] on a struct that wraps one unmanaged function pointer).</summary>
public sealed record AbiCallback(string CName, string ReturnType, EquatableArray<AbiParam> Params, string Doc, string Order);

/// <summary>A #define from a C# constant ([CDefine]).</summary>
public sealed record AbiDefine(string Name, string Value, string Doc, string Order);

/// <summary>A problem found in the exported C# code, with a position in a source file.</summary>
public sealed record AbiDiagnostic(string Id, string Message, string Path, int Start, int Length, int Line, int Column, int EndLine, int EndColumn);

/// <summary>One collected ABI item, or the reason it could not be described in C.</summary>
public sealed record AbiItem<T>(T? Value, AbiDiagnostic? Error) where T : class;

/// <summary>Everything of the C ABI that goes into the header.</summary>
public sealed record AbiModel(
    EquatableArray<AbiDefine> Defines,
    EquatableArray<AbiOpaque> Opaques,
    EquatableArray<AbiCallback> Callbacks,
    EquatableArray<AbiStruct> Structs,
    EquatableArray<AbiFunction> Functions);
