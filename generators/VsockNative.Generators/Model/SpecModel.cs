using System;

namespace VsockNative.Generators.Model;

/// <summary>A wire scalar: its width in bytes; all wire scalars are unsigned and little-endian
/// (u8 is a single byte).</summary>
public enum WireType { U8 = 1, Le16 = 2, Le32 = 4, Le64 = 8 }

/// <summary>The whole spec description, free of Roslyn types and of source positions (lines live only
/// in <see cref="SpecDiagnostic"/>), so the pipeline can cache it and a moved comment changes nothing.</summary>
public sealed record SpecModel(
    string Path,
    EquatableArray<StructDef> Structs,
    EquatableArray<EnumDef> Enums,
    EquatableArray<FeatureSet> FeatureSets);

/// <summary>A packed wire struct. Offsets are computed by the parser (packed: no padding).</summary>
public sealed record StructDef(string Name, EquatableArray<FieldDef> Fields, int Size);

public sealed record FieldDef(string Name, WireType Type, int Offset)
{
    public int Size => (int)Type;
}

public sealed record EnumDef(string Name, WireType Underlying, EquatableArray<EnumMember> Members);

public sealed record EnumMember(string Name, ulong Value);

/// <summary>A block of feature bits; <see cref="FeatureBit.Bit"/> is the bit number (0..63).</summary>
public sealed record FeatureSet(string Name, EquatableArray<FeatureBit> Bits);

public sealed record FeatureBit(string Name, int Bit, string Description);

/// <summary>A problem in the spec text. Line and column are 1-based; Start/Length index the text.</summary>
public sealed record SpecDiagnostic(string Id, string Message, string Path, int Line, int Column, int Start, int Length);

/// <summary>What parsing produced: a model (null when the text has errors) and the diagnostics.</summary>
public sealed record ParseResult(SpecModel? Model, EquatableArray<SpecDiagnostic> Diagnostics);
