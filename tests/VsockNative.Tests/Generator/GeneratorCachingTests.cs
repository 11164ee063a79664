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
        var compilation = GeneratorHarness.Compilation(Export);
        var first = GeneratorHarness.Run(GeneratorHarness.Driver(new GeneratorHarness.Text(GeneratorHarness.SpecPath, GeneratorHarness.RealSpec)), compilation);
        var second = GeneratorHarness.Run(first.Driver, compilation.Clone());

        var steps = second.Run.Results.Single().TrackedSteps;
        foreach (var name in new[] { VsockNativeGenerator.Steps.SpecParse, VsockNativeGenerator.Steps.SpecModel, VsockNativeGenerator.Steps.AbiFunctions, VsockNativeGenerator.Steps.AbiModel, VsockNativeGenerator.Steps.Header })
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
}
