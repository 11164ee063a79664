namespace VsockNative.Generators.Spec;

/// <summary>Diagnostic ids for the spec description. Each is tested in tests/.../Generator.</summary>
public static class SpecDiagnosticIds
{
    /// <summary>Syntax error: an unexpected token, a missing brace or semicolon, an unterminated comment.</summary>
    public const string Syntax = "VSN0001";
    /// <summary>A field type that is not one of u8, le16, le32, le64 (u16/u32/u64 are accepted as little-endian).</summary>
    public const string UnknownType = "VSN0002";
    /// <summary>Two fields of one struct share a name.</summary>
    public const string DuplicateField = "VSN0003";
    /// <summary>An enum value that is not a number, is negative, or does not fit the enum's type.</summary>
    public const string BadEnumValue = "VSN0004";
    /// <summary>Two structs, enums, feature sets, enum members or feature bits share a name.</summary>
    public const string DuplicateName = "VSN0005";
    /// <summary>A feature bit number outside 0..63, or used twice in one set.</summary>
    public const string BadFeatureBit = "VSN0006";
    /// <summary>A struct, enum or feature set with nothing in it.</summary>
    public const string Empty = "VSN0007";
    /// <summary>More than one spec file, or none, was given to the generator.</summary>
    public const string SpecFileCount = "VSN0008";
}
