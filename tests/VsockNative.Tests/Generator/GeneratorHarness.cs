using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Text;
using VsockNative.Generators;

namespace VsockNative.Tests.Generator;

/// <summary>Runs the real generator through CSharpGeneratorDriver on a spec text and C# sources.</summary>
internal static class GeneratorHarness
{
    public const string SpecPath = "/spec/virtio_vsock.vsockspec";

    /// <summary>The ABI marker attributes as the library declares them, with a small section enum.</summary>
    public const string AbiAttributes = """
        namespace VsockNative.Interop
        {
            [System.AttributeUsage(System.AttributeTargets.Struct)] class CStructAttribute : System.Attribute { public CStructAttribute(string n) { } public string DeprecatedAlias { get; set; } public string DeprecatedSince { get; set; } }
            [System.AttributeUsage(System.AttributeTargets.Struct)] class COpaqueAttribute : System.Attribute { public COpaqueAttribute(string n) { } }
            [System.AttributeUsage(System.AttributeTargets.Struct)] class CCallbackAttribute : System.Attribute { public CCallbackAttribute(string n, params string[] p) { } }
            [System.AttributeUsage(System.AttributeTargets.Parameter | System.AttributeTargets.Field)] class CConstAttribute : System.Attribute { }
            [System.AttributeUsage(System.AttributeTargets.Field)] class CDefineAttribute : System.Attribute { public CDefineAttribute(string n) { } }
            class CSectionAttribute : System.Attribute { public CSectionAttribute(AbiSection s, int order = 0) { } }
            enum AbiSection
            {
                /// <summary>Library: version.</summary>
                Library = 1,
                /// <summary>Device lifecycle: create, destroy.</summary>
                Lifecycle = 2,
                /// <summary>Diagnostics: counters.</summary>
                Diagnostics = 3,
            }
        }
        """;

    private static readonly Lazy<MetadataReference[]> References = new(() =>
        ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Where(p => Path.GetFileName(p).StartsWith("System.", StringComparison.Ordinal) || Path.GetFileName(p) is "netstandard.dll" or "mscorlib.dll")
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p)).ToArray());

    public static readonly CSharpParseOptions ParseOptions =
        new(LanguageVersion.Latest, DocumentationMode.Parse);

    public sealed record Result(GeneratorDriver Driver, GeneratorDriverRunResult Run, Compilation Output, ImmutableArray<Diagnostic> OutputDiagnostics)
    {
        public string Source(string hintNameEnd) =>
            Run.Results.Single().GeneratedSources.Single(s => s.HintName.EndsWith(hintNameEnd, StringComparison.Ordinal)).SourceText.ToString();

        public ImmutableArray<Diagnostic> GeneratorDiagnostics => Run.Diagnostics;
    }

    public static CSharpCompilation Compilation(params string[] sources) =>
        CSharpCompilation.Create("GenTest",
            sources.Select((s, i) => CSharpSyntaxTree.ParseText(s, ParseOptions, path: $"/src/File{i}.cs")),
            References.Value,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, allowUnsafe: true));

    public static GeneratorDriver Driver(params AdditionalText[] texts) =>
        CSharpGeneratorDriver.Create(
            new[] { new VsockNativeGenerator().AsSourceGenerator() },
            texts,
            ParseOptions,
            driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: true));

    public static Result Run(string specText, params string[] sources) => Run(Driver(new Text(SpecPath, specText)), Compilation(sources));

    public static Result Run(GeneratorDriver driver, Compilation compilation)
    {
        driver = driver.RunGeneratorsAndUpdateCompilation(compilation, out var output, out var diagnostics, CancellationToken.None);
        return new Result(driver, driver.GetRunResult(), output, diagnostics);
    }

    /// <summary>Errors of the compilation that includes the generated sources.</summary>
    public static List<Diagnostic> CompileErrors(Compilation output) =>
        output.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).ToList();

    public static string RealSpec => File.ReadAllText(RepoPaths.Spec);

    public sealed class Text : AdditionalText
    {
        private readonly string _text;
        public Text(string path, string text) { Path = path; _text = text; }
        public override string Path { get; }
        public override SourceText GetText(CancellationToken cancellationToken = default) => SourceText.From(_text);
    }
}
