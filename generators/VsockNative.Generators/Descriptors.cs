using Microsoft.CodeAnalysis;
using VsockNative.Generators.Abi;
using VsockNative.Generators.Spec;

namespace VsockNative.Generators;

/// <summary>Roslyn descriptors for the diagnostic ids in <see cref="SpecDiagnosticIds"/> and <see cref="AbiDiagnosticIds"/>.</summary>
internal static class Descriptors
{
    private const string Category = "VsockNative";

    public static readonly DiagnosticDescriptor SpecFileCount = new(SpecDiagnosticIds.SpecFileCount,
        "Exactly one spec file is needed", "Found {0} spec files (*{1}); exactly one AdditionalFiles item must hold the spec description",
        Category, DiagnosticSeverity.Error, true);

    public static DiagnosticDescriptor ForSpec(string id) => id switch
    {
        SpecDiagnosticIds.Syntax => Make(id, "Spec syntax error"),
        SpecDiagnosticIds.UnknownType => Make(id, "Unknown type in spec"),
        SpecDiagnosticIds.DuplicateField => Make(id, "Duplicate field in spec"),
        SpecDiagnosticIds.BadEnumValue => Make(id, "Bad enum value in spec"),
        SpecDiagnosticIds.DuplicateName => Make(id, "Duplicate name in spec"),
        SpecDiagnosticIds.BadFeatureBit => Make(id, "Bad feature bit in spec"),
        _ => Make(id, "Empty definition in spec"),
    };

    public static DiagnosticDescriptor ForAbi(string id) => id switch
    {
        AbiDiagnosticIds.UnsupportedType => Make(id, "Exported type has no C equivalent"),
        AbiDiagnosticIds.MissingPrefix => Make(id, "Exported C name lacks the vsn_ prefix"),
        AbiDiagnosticIds.CSharpNameInDoc => Make(id, "A header doc comment names a C# identifier", DiagnosticSeverity.Warning),
        _ => Make(id, "Unsupported C struct layout"),
    };

    private static DiagnosticDescriptor Make(string id, string title, DiagnosticSeverity severity = DiagnosticSeverity.Error) =>
        new(id, title, "{0}", Category, severity, true);
}
