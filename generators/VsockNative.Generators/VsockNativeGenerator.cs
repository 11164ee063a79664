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

        var functions = context.SyntaxProvider.ForAttributeWithMetadataName(
                "System.Runtime.InteropServices.UnmanagedCallersOnlyAttribute",
                static (node, _) => true,
                static (ctx, _) => AbiCollector.Function((IMethodSymbol)ctx.TargetSymbol, ctx.Attributes[0]))
            .Where(static f => f is not null).Select(static (f, _) => f!)
            .WithTrackingName(Steps.AbiFunctions).Collect();
        var structs = Named(context, "CStructAttribute", static (t, a) => AbiCollector.Struct(t, (string)a.ConstructorArguments[0].Value!))
            .WithTrackingName(Steps.AbiStructs).Collect();
        var opaques = Named(context, "COpaqueAttribute", static (t, a) => AbiCollector.Opaque(t, (string)a.ConstructorArguments[0].Value!)).Collect();
        var callbacks = Named(context, "CCallbackAttribute", static (t, a) => AbiCollector.Callback(t, a)).Collect();
        var defines = context.SyntaxProvider.ForAttributeWithMetadataName(
                CTypeMapper.Ns + ".CDefineAttribute",
                static (node, _) => true,
                static (ctx, _) => AbiCollector.Define((IFieldSymbol)ctx.TargetSymbol, (string)ctx.Attributes[0].ConstructorArguments[0].Value!))
            .Collect();

        var abiItems = functions.Combine(structs).Combine(opaques).Combine(callbacks).Combine(defines)
            .Select(static (x, _) => new AbiItems(
                Sorted(x.Left.Left.Left.Left, f => f.Order), Sorted(x.Left.Left.Left.Right, s => s.Order),
                Sorted(x.Left.Left.Right, o => o.Order), Sorted(x.Left.Right, c => c.Order), Sorted(x.Right, d => d.Order)));
        context.RegisterSourceOutput(abiItems, static (spc, items) => ReportAbi(spc, items));

        var abi = abiItems.Select(static (i, _) => new AbiModel(Values(i.Defines), Values(i.Opaques), Values(i.Callbacks), Values(i.Structs), Values(i.Functions)))
            .WithTrackingName(Steps.AbiModel);
        var header = spec.Combine(abi).Select(static (x, _) => (Text: CHeaderEmitter.Emit(x.Left, x.Right), Abi: x.Right))
            .WithTrackingName(Steps.Header);
        context.RegisterSourceOutput(header, static (spc, h) =>
            spc.AddSource("VsockNative.AbiHeader.g.cs", CSharpAbiEmitter.Emit(h.Text, h.Abi)));
    }

    private sealed record AbiItems(
        EquatableArray<AbiItem<AbiFunction>> Functions, EquatableArray<AbiItem<AbiStruct>> Structs,
        EquatableArray<AbiItem<AbiOpaque>> Opaques, EquatableArray<AbiItem<AbiCallback>> Callbacks,
        EquatableArray<AbiItem<AbiDefine>> Defines);

    private static IncrementalValuesProvider<AbiItem<T>> Named<T>(IncrementalGeneratorInitializationContext context, string attribute,
        System.Func<INamedTypeSymbol, AttributeData, AbiItem<T>> transform) where T : class =>
        context.SyntaxProvider.ForAttributeWithMetadataName(CTypeMapper.Ns + "." + attribute,
            static (node, _) => true,
            (ctx, _) => transform((INamedTypeSymbol)ctx.TargetSymbol, ctx.Attributes[0]));

    private static EquatableArray<AbiItem<T>> Sorted<T>(ImmutableArray<AbiItem<T>> items, System.Func<T, string> order) where T : class =>
        new(items.OrderBy(i => i.Value is null ? "" : order(i.Value), System.StringComparer.Ordinal).ToArray());

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

    private static void ReportAbi(SourceProductionContext spc, AbiItems items)
    {
        var errors = new List<AbiDiagnostic>();
        errors.AddRange(items.Functions.Where(i => i.Error is not null).Select(i => i.Error!));
        errors.AddRange(items.Structs.Where(i => i.Error is not null).Select(i => i.Error!));
        errors.AddRange(items.Opaques.Where(i => i.Error is not null).Select(i => i.Error!));
        errors.AddRange(items.Callbacks.Where(i => i.Error is not null).Select(i => i.Error!));
        errors.AddRange(items.Defines.Where(i => i.Error is not null).Select(i => i.Error!));
        foreach (var d in errors)
        {
            var location = Location.Create(d.Path, new TextSpan(d.Start, d.Length),
                new LinePositionSpan(new LinePosition(d.Line, d.Column), new LinePosition(d.EndLine, d.EndColumn)));
            spc.ReportDiagnostic(Diagnostic.Create(Descriptors.ForAbi(d.Id), location, d.Message));
        }
    }
}
