using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;
using VsockNative.Generators.Abi;
using VsockNative.Generators.Emit;
using VsockNative.Generators.Model;
using VsockNative.Generators.Spec;

namespace VsockNative.Generators;

/// <summary>
/// The incremental generator. Pipeline (each step has a tracking name, see <see cref="Steps"/>):
/// spec AdditionalFile (*.vsockspec) -> parse -> equatable model -> C# wire accessors;
/// [UnmanagedCallersOnly]/[CStruct]/[COpaque]/[CCallback]/[CDefine] symbols -> equatable ABI model;
/// spec model + ABI model -> C header text (embedded in the assembly as GeneratedCHeader).
/// Diagnostics are a separate output from the generated source.
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed class VsockNativeGenerator : IIncrementalGenerator
{
    public const string SpecExtension = ".vsockspec";

    /// <summary>Tracking names of the pipeline steps (asserted by the caching tests).</summary>
    public static class Steps
    {
        public const string SpecParse = "Spec.Parse";
        public const string SpecModel = "Spec.Model";
        public const string AbiFunctions = "Abi.Functions";
        public const string AbiStructs = "Abi.Structs";
        public const string AbiOpaques = "Abi.Opaques";
        public const string AbiCallbacks = "Abi.Callbacks";
        public const string AbiDefines = "Abi.Defines";
        public const string HeaderNames = "Header.Names";
        public const string AbiModel = "Abi.Model";
        public const string Header = "Header";
    }

    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        var parsed = context.AdditionalTextsProvider
            .Where(static f => f.Path.EndsWith(SpecExtension, System.StringComparison.OrdinalIgnoreCase))
            .Select(static (f, ct) => SpecParser.Parse(f.Path, f.GetText(ct)?.ToString() ?? ""))
            .WithTrackingName(Steps.SpecParse)
            .Collect();

        var spec = parsed.Select(static (all, _) => all.Length == 1 ? all[0].Model : null).WithTrackingName(Steps.SpecModel);

        context.RegisterSourceOutput(parsed, static (spc, all) => ReportSpec(spc, all));
        context.RegisterSourceOutput(spec, static (spc, model) => EmitWire(spc, model));

        var functions = Split(context.SyntaxProvider.ForAttributeWithMetadataName(
                "System.Runtime.InteropServices.UnmanagedCallersOnlyAttribute",
                static (node, _) => true,
                static (ctx, _) => Collect(AbiCollector.Function((IMethodSymbol)ctx.TargetSymbol, ctx.Attributes[0]), ctx.TargetSymbol, static f => f.Name))
            .Where(static f => f is not null).Select(static (f, _) => f!), Steps.AbiFunctions);
        var structs = Split(Named(context, "CStructAttribute", static (t, a) => Collect(AbiCollector.Struct(t, a), t, static s => s.CName)), Steps.AbiStructs);
        var opaques = Split(Named(context, "COpaqueAttribute", static (t, a) => Collect(AbiCollector.Opaque(t, (string)a.ConstructorArguments[0].Value!), t, static o => o.CName)), Steps.AbiOpaques);
        var callbacks = Split(Named(context, "CCallbackAttribute", static (t, a) => Collect(AbiCollector.Callback(t, a), t, static c => c.CName)), Steps.AbiCallbacks);
        var defines = Split(context.SyntaxProvider.ForAttributeWithMetadataName(
                CTypeMapper.Ns + ".CDefineAttribute",
                static (node, _) => true,
                static (ctx, _) => Collect(AbiCollector.Define((IFieldSymbol)ctx.TargetSymbol, (string)ctx.Attributes[0].ConstructorArguments[0].Value!), ctx.TargetSymbol, static d => d.Name)!),
            Steps.AbiDefines);

        var abiItems = functions.Items.Combine(structs.Items).Combine(opaques.Items).Combine(callbacks.Items).Combine(defines.Items)
            .Select(static (x, _) => new AbiItems(
                Sorted(x.Left.Left.Left.Left, f => (f.Place, f.Name)), Sorted(x.Left.Left.Left.Right, s => (s.Place, s.CName)),
                Sorted(x.Left.Left.Right, o => (o.Place, o.CName)), Sorted(x.Left.Right, c => (c.Place, c.CName)), Sorted(x.Right, d => (d.Place, d.Name))));
        context.RegisterSourceOutput(abiItems, static (spc, items) => ReportAbi(spc, items));

        var abi = abiItems.Select(static (i, _) => new AbiModel(Values(i.Defines), Values(i.Opaques), Values(i.Callbacks), Values(i.Structs), Values(i.Functions)))
            .WithTrackingName(Steps.AbiModel);
        var header = spec.Combine(abi).Select(static (x, _) => (Text: CHeaderEmitter.Emit(x.Left, x.Right), Abi: x.Right))
            .WithTrackingName(Steps.Header);
        context.RegisterSourceOutput(header, static (spc, h) =>
            spc.AddSource("VsockNative.AbiHeader.g.cs", CSharpAbiEmitter.Emit(h.Text, h.Abi)));

        // Doc comments in C words: the suspects carry positions, so they meet the model only here,
        // in a diagnostics-only output; the header never depends on them.
        var suspects = functions.Suspects.Combine(structs.Suspects).Combine(opaques.Suspects).Combine(callbacks.Suspects).Combine(defines.Suspects)
            .Select(static (x, _) => x.Left.Left.Left.Left.AddRange(x.Left.Left.Left.Right).AddRange(x.Left.Left.Right).AddRange(x.Left.Right).AddRange(x.Right));
        var names = spec.Combine(abi).Select(static (x, _) => HeaderNames.Of(x.Left, x.Right)).WithTrackingName(Steps.HeaderNames);
        context.RegisterSourceOutput(suspects.Combine(names), static (spc, x) => ReportDocs(spc, x.Left, x.Right));
    }

    private sealed record AbiItems(
        EquatableArray<AbiItem<AbiFunction>> Functions, EquatableArray<AbiItem<AbiStruct>> Structs,
        EquatableArray<AbiItem<AbiOpaque>> Opaques, EquatableArray<AbiItem<AbiCallback>> Callbacks,
        EquatableArray<AbiItem<AbiDefine>> Defines);

    private static Collected<T>? Collect<T>(AbiItem<T>? item, ISymbol symbol, System.Func<T, string> owner) where T : class =>
        item is null ? null
        : new Collected<T>(item, item.Value is null ? EquatableArray<DocSuspect>.Empty : DocCheck.Find(symbol, owner(item.Value)));

    /// <summary>One kind of ABI item split in two: the items (tracked under <paramref name="step"/>; equal
    /// after an edit that moved only comments or white space) and the doc-comment suspects.</summary>
    private static (IncrementalValueProvider<ImmutableArray<AbiItem<T>>> Items, IncrementalValueProvider<ImmutableArray<DocSuspect>> Suspects)
        Split<T>(IncrementalValuesProvider<Collected<T>> collected, string step) where T : class =>
        (collected.Select(static (c, _) => c.Item).WithTrackingName(step).Collect(),
         collected.SelectMany(static (c, _) => c.Suspects).Collect());

    private static IncrementalValuesProvider<Collected<T>> Named<T>(IncrementalGeneratorInitializationContext context, string attribute,
        System.Func<INamedTypeSymbol, AttributeData, Collected<T>?> transform) where T : class =>
        context.SyntaxProvider.ForAttributeWithMetadataName(CTypeMapper.Ns + "." + attribute,
            static (node, _) => true,
            (ctx, _) => transform((INamedTypeSymbol)ctx.TargetSymbol, ctx.Attributes[0])!);

    /// <summary>Header order: section, place in the section, member index, then name.</summary>
    private static EquatableArray<AbiItem<T>> Sorted<T>(ImmutableArray<AbiItem<T>> items, System.Func<T, (AbiPlace Place, string Name)> key) where T : class =>
        new(items.Select(i => (Item: i, Key: i.Value is null ? (AbiPlace.None, "") : key(i.Value)))
            .OrderBy(x => x.Key.Item1.Section).ThenBy(x => x.Key.Item1.Order).ThenBy(x => x.Key.Item1.Index)
            .ThenBy(x => x.Key.Item2, System.StringComparer.Ordinal)
            .Select(x => x.Item).ToArray());

    private static EquatableArray<T> Values<T>(EquatableArray<AbiItem<T>> items) where T : class, System.IEquatable<T> =>
        new(items.Where(i => i.Value is not null).Select(i => i.Value!).ToArray());

    private static void EmitWire(SourceProductionContext spc, SpecModel? model)
    {
        if (model is null) return;
        spc.AddSource("VsockNative.Wire.Support.g.cs", CSharpWireEmitter.EmitSupport());
        spc.AddSource("VsockNative.Wire.Constants.g.cs", CSharpWireEmitter.EmitConstants(model));
        foreach (var s in model.Structs)
            spc.AddSource($"VsockNative.Wire.{Names.Pascal(s.Name)}.g.cs", CSharpWireEmitter.EmitStruct(s));
    }

    private static void ReportSpec(SourceProductionContext spc, ImmutableArray<ParseResult> all)
    {
        if (all.Length != 1)
        {
            spc.ReportDiagnostic(Diagnostic.Create(Descriptors.SpecFileCount, Location.None, all.Length, SpecExtension));
            return;
        }
        foreach (var d in all[0].Diagnostics)
        {
            var pos = new LinePosition(d.Line - 1, d.Column - 1);
            var end = new LinePosition(d.Line - 1, d.Column - 1 + d.Length);
            var location = Location.Create(d.Path, new TextSpan(d.Start, d.Length), new LinePositionSpan(pos, end));
            spc.ReportDiagnostic(Diagnostic.Create(Descriptors.ForSpec(d.Id), location, d.Message));
        }
    }

    private static void ReportDocs(SourceProductionContext spc, ImmutableArray<DocSuspect> suspects, EquatableArray<string> names)
    {
        var declared = new HashSet<string>(names, System.StringComparer.Ordinal);
        foreach (var s in suspects.Where(s => !declared.Contains(s.Word)))
            Report(spc, s.Diagnostic);
    }

    private static void Report(SourceProductionContext spc, AbiDiagnostic d)
    {
        var location = Location.Create(d.Path, new TextSpan(d.Start, d.Length),
            new LinePositionSpan(new LinePosition(d.Line, d.Column), new LinePosition(d.EndLine, d.EndColumn)));
        spc.ReportDiagnostic(Diagnostic.Create(Descriptors.ForAbi(d.Id), location, d.Message));
    }

    private static void ReportAbi(SourceProductionContext spc, AbiItems items)
    {
        var errors = new List<AbiDiagnostic>();
        errors.AddRange(items.Functions.Where(i => i.Error is not null).Select(i => i.Error!));
        errors.AddRange(items.Structs.Where(i => i.Error is not null).Select(i => i.Error!));
        errors.AddRange(items.Opaques.Where(i => i.Error is not null).Select(i => i.Error!));
        errors.AddRange(items.Callbacks.Where(i => i.Error is not null).Select(i => i.Error!));
        errors.AddRange(items.Defines.Where(i => i.Error is not null).Select(i => i.Error!));
        foreach (var d in errors) Report(spc, d);
    }
}
