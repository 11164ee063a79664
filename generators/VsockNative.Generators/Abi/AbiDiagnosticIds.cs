namespace VsockNative.Generators.Abi;

/// <summary>Diagnostic ids for exported C# code that cannot be described in the C header.</summary>
public static class AbiDiagnosticIds
{
    /// <summary>A parameter, return or field type with no C equivalent (bool, char, managed types, ...).</summary>
    public const string UnsupportedType = "VSN0100";
    /// <summary>An exported name, struct, typedef or define without the project prefix (vsn_ / VSN_).</summary>
    public const string MissingPrefix = "VSN0101";
    /// <summary>A [CStruct] with explicit layout or packing, whose C layout we cannot assert.</summary>
    public const string UnsupportedLayout = "VSN0102";
}
