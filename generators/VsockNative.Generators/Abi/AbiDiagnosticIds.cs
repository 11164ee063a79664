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
    /// <summary>Warning: a doc comment that goes into the header names a C# identifier the header does
    /// not declare (PascalCase, Foo.Bar, ulong, a cref); the header must speak C only.</summary>
    public const string CSharpNameInDoc = "VSN0103";
}
