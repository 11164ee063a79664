using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using VsockNative.Generators;
using Xunit;

namespace VsockNative.Tests.Generator;

/// <summary>The pipeline is incremental: steps report Cached/Unchanged when their inputs did not change.</summary>
public class GeneratorCachingTests
{
    private const string Export = """
        namespace VsockNative.Interop { }
        public static class E
        {
            /// <summary>Answers.</summary>
            [System.Runtime.InteropServices.UnmanagedCallersOnly(EntryPoint = "vsn_answer")]
            public static int Answer() => 42;
        }
        """;

    [Fact]
    public void Rerunning_with_the_same_inputs_caches_every_step()
    {
        var compilation = GeneratorHarness.Compilation(GeneratorHarness.AbiAttributes, AbiKinds, Export.Replace("namespace VsockNative.Interop { }", ""));
        var first = GeneratorHarness.Run(GeneratorHarness.Driver(new GeneratorHarness.Text(GeneratorHarness.SpecPath, GeneratorHarness.RealSpec)), compilation);
        var second = GeneratorHarness.Run(first.Driver, compilation.Clone());

        var steps = second.Run.Results.Single().TrackedSteps;
        foreach (var name in new[] { VsockNativeGenerator.Steps.SpecParse, VsockNativeGenerator.Steps.SpecModel, VsockNativeGenerator.Steps.AbiFunctions, VsockNativeGenerator.Steps.AbiStructs,
                     VsockNativeGenerator.Steps.AbiOpaques, VsockNativeGenerator.Steps.AbiCallbacks, VsockNativeGenerator.Steps.AbiDefines, VsockNativeGenerator.Steps.AbiModel,
                     VsockNativeGenerator.Steps.HeaderNames, VsockNativeGenerator.Steps.Header })
        {
            Assert.True(steps.ContainsKey(name), $"step {name} is not tracked");
            Assert.All(steps[name].SelectMany(s => s.Outputs), o => Assert.True(
                o.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"{name}: {o.Reason}"));
        }
    }

    [Fact]
    public void Editing_unrelated_code_does_not_reparse_the_spec_or_rebuild_the_header()
    {
        var compilation = GeneratorHarness.Compilation(Export, "public class A { }");
        var first = GeneratorHarness.Run(GeneratorHarness.Driver(new GeneratorHarness.Text(GeneratorHarness.SpecPath, GeneratorHarness.RealSpec)), compilation);
        var edited = compilation.ReplaceSyntaxTree(compilation.SyntaxTrees.Last(),
            CSharpSyntaxTree.ParseText("public class A { public int X; }", GeneratorHarness.ParseOptions, path: "/src/File1.cs"));
        var second = GeneratorHarness.Run(first.Driver, edited);

        var steps = second.Run.Results.Single().TrackedSteps;
        Assert.All(steps[VsockNativeGenerator.Steps.SpecParse].SelectMany(s => s.Outputs), o => Assert.Equal(IncrementalStepRunReason.Cached, o.Reason));
        Assert.All(steps[VsockNativeGenerator.Steps.Header].SelectMany(s => s.Outputs), o => Assert.True(
            o.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, o.Reason.ToString()));
    }

    [Fact]
    public void Changing_the_spec_reruns_the_spec_steps()
    {
        var compilation = GeneratorHarness.Compilation(Export);
        var original = new GeneratorHarness.Text(GeneratorHarness.SpecPath, GeneratorHarness.RealSpec);
        var d1 = GeneratorHarness.Run(GeneratorHarness.Driver(original), compilation);
        var d2 = GeneratorHarness.Run(d1.Driver.ReplaceAdditionalText(original,
            new GeneratorHarness.Text(GeneratorHarness.SpecPath, GeneratorHarness.RealSpec + "\nstruct extra { u8 x; };\n")), compilation);
        var steps = d2.Run.Results.Single().TrackedSteps;
        Assert.Contains(steps[VsockNativeGenerator.Steps.SpecModel].SelectMany(s => s.Outputs), o => o.Reason == IncrementalStepRunReason.Modified);
        Assert.Contains(d2.Run.Results.Single().GeneratedSources, s => s.HintName == "VsockNative.Wire.Extra.g.cs");
    }

    /// <summary>One item of every kind the ABI collects, in one file.</summary>
    private const string AbiKinds = """
        using VsockNative.Interop;
        /// <summary>A thing.</summary>
        [CSection(AbiSection.Lifecycle, 1)] [COpaque("vsn_thing")] struct Thing { public nint V; }
        /// <summary>Called back.</summary>
        [CSection(AbiSection.Lifecycle, 1)] [CCallback("vsn_cb_fn", "user")] unsafe struct Cb { public delegate* unmanaged<void*, void> Fn; }
        /// <summary>Counts.</summary>
        [CSection(AbiSection.Diagnostics, 1)] [CStruct("vsn_counts")] struct Counts { /// <summary>How many.</summary>
            public ulong N; }
        [CSection(AbiSection.Library, 1)]
        static class Limits
        {
            /// <summary>The limit.</summary>
            [CDefine("VSN_LIMIT")] public const uint Limit = 7;
            // an ordinary comment
            /// <summary>Creates a thing.</summary>
            [System.Runtime.InteropServices.UnmanagedCallersOnly(EntryPoint = "vsn_thing_create")]
            [CSection(AbiSection.Lifecycle, 2)]
            public static int Create() => 0;
        }
        """;

    private static readonly string[] AbiSteps =
    {
        VsockNativeGenerator.Steps.AbiFunctions, VsockNativeGenerator.Steps.AbiStructs, VsockNativeGenerator.Steps.AbiOpaques,
        VsockNativeGenerator.Steps.AbiCallbacks, VsockNativeGenerator.Steps.AbiDefines, VsockNativeGenerator.Steps.AbiModel,
        VsockNativeGenerator.Steps.HeaderNames, VsockNativeGenerator.Steps.Header,
    };

    private static System.Collections.Immutable.ImmutableDictionary<string, System.Collections.Immutable.ImmutableArray<IncrementalGeneratorRunStep>> EditAbiFile(string edited)
    {
        var compilation = GeneratorHarness.Compilation(GeneratorHarness.AbiAttributes, AbiKinds);
        var first = GeneratorHarness.Run(GeneratorHarness.Driver(new GeneratorHarness.Text(GeneratorHarness.SpecPath, GeneratorHarness.RealSpec)), compilation);
        Assert.Empty(first.GeneratorDiagnostics);
        var next = compilation.ReplaceSyntaxTree(compilation.SyntaxTrees.Last(),
            CSharpSyntaxTree.ParseText(edited, GeneratorHarness.ParseOptions, path: "/src/File1.cs"));
        return GeneratorHarness.Run(first.Driver, next).Run.Results.Single().TrackedSteps;
    }

    private static void AssertCached(System.Collections.Immutable.ImmutableDictionary<string, System.Collections.Immutable.ImmutableArray<IncrementalGeneratorRunStep>> steps, string name)
    {
        Assert.True(steps.ContainsKey(name), $"step {name} is not tracked");
        Assert.All(steps[name].SelectMany(s => s.Outputs), o => Assert.True(
            o.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"{name}: {o.Reason}"));
    }

    [Fact]
    public void Moving_every_ABI_item_by_white_space_and_an_ordinary_comment_leaves_every_step_cached()
    {
        // new lines above everything and a changed ordinary comment: every position in the file moves
        var steps = EditAbiFile("\n\n// moved\n" + AbiKinds.Replace("// an ordinary comment", "// another, longer ordinary comment\n"));
        foreach (var name in AbiSteps) AssertCached(steps, name);
    }

    [Fact]
    public void Editing_one_export_summary_regenerates_that_export_and_the_header_only()
    {
        var steps = EditAbiFile(AbiKinds.Replace("Creates a thing.", "Creates a new thing."));
        Assert.Contains(steps[VsockNativeGenerator.Steps.AbiFunctions].SelectMany(s => s.Outputs), o => o.Reason == IncrementalStepRunReason.Modified);
        Assert.Contains(steps[VsockNativeGenerator.Steps.Header].SelectMany(s => s.Outputs), o => o.Reason == IncrementalStepRunReason.Modified);
        foreach (var name in new[] { VsockNativeGenerator.Steps.AbiStructs, VsockNativeGenerator.Steps.AbiOpaques, VsockNativeGenerator.Steps.AbiCallbacks,
                     VsockNativeGenerator.Steps.AbiDefines, VsockNativeGenerator.Steps.HeaderNames })
            AssertCached(steps, name);
    }

    [Fact]
    public void Editing_a_struct_field_summary_regenerates_the_structs_not_the_functions()
    {
        var steps = EditAbiFile(AbiKinds.Replace("How many.", "How many there are."));
        Assert.Contains(steps[VsockNativeGenerator.Steps.AbiStructs].SelectMany(s => s.Outputs), o => o.Reason == IncrementalStepRunReason.Modified);
        AssertCached(steps, VsockNativeGenerator.Steps.AbiFunctions);
        AssertCached(steps, VsockNativeGenerator.Steps.AbiDefines);
    }

    [Fact]
    public void Editing_a_comment_in_the_spec_leaves_the_spec_model_and_the_header_cached()
    {
        var compilation = GeneratorHarness.Compilation(GeneratorHarness.AbiAttributes, AbiKinds);
        var original = new GeneratorHarness.Text(GeneratorHarness.SpecPath, GeneratorHarness.RealSpec);
        var d1 = GeneratorHarness.Run(GeneratorHarness.Driver(original), compilation);
        var d2 = GeneratorHarness.Run(d1.Driver.ReplaceAdditionalText(original,
            new GeneratorHarness.Text(GeneratorHarness.SpecPath, "/* a new comment\n   over two lines */\n\n" + GeneratorHarness.RealSpec)), compilation);
        var steps = d2.Run.Results.Single().TrackedSteps;
        foreach (var name in new[] { VsockNativeGenerator.Steps.SpecParse, VsockNativeGenerator.Steps.SpecModel }.Concat(AbiSteps))
            AssertCached(steps, name);
    }
}
