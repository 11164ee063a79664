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
