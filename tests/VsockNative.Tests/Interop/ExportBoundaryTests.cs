using System.IO;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Xunit;

namespace VsockNative.Tests.Interop;

/// <summary>No C# exception may cross into C: every exported function's body is one try with a
/// catch-all, unless it is a single expression that cannot throw (a constant).</summary>
public class ExportBoundaryTests
{
    [Fact]
    public void Every_export_catches_every_exception()
    {
        int exports = 0;
        foreach (var (file, method) in Exports())
        {
            exports++;
            if (method.ExpressionBody is { Expression: MemberAccessExpressionSyntax or LiteralExpressionSyntax }) continue;
            var statements = method.Body?.Statements ?? default;
            var guarded = statements.Count == 2 && statements[1] is TryStatementSyntax t0 && IsCatchAll(t0)
                          || statements.Count == 1 && statements[0] is TryStatementSyntax t1 && IsCatchAll(t1);
            Assert.True(guarded, $"{Path.GetFileName(file)}: {method.Identifier} must wrap its body in try {{ }} catch (Exception)");
        }
        Assert.True(exports >= 20, $"found only {exports} exports: the scan is broken");
    }

    /// <summary>The header promises a thread rule for every function: each export's doc comment has a
    /// "Threads:" line (the header is generated from these comments).</summary>
    [Fact]
    public void Every_export_documents_its_thread_rules()
    {
        int exports = 0;
        foreach (var (file, method) in Exports())
        {
            exports++;
            var doc = method.GetLeadingTrivia().ToFullString();
            Assert.True(doc.Contains("/// Threads:") || doc.Contains(" Threads: "),
                $"{Path.GetFileName(file)}: {method.Identifier} has no 'Threads:' line in its doc comment");
        }
        Assert.True(exports >= 20, $"found only {exports} exports: the scan is broken");
    }

    /// <summary>The header is ordered by section, not by file: every export says where it goes
    /// (without [CSection] it would land after everything, under no heading).</summary>
    [Fact]
    public void Every_export_has_a_header_section()
    {
        foreach (var (file, method) in Exports())
            Assert.True(method.AttributeLists.SelectMany(l => l.Attributes).Any(a => a.Name.ToString() is "CSection" or "CSectionAttribute"),
                $"{Path.GetFileName(file)}: {method.Identifier} has no [CSection(AbiSection..., order)]");
    }

    /// <summary>The same for every C struct, callback and handle: a struct without a section would land
    /// after the structs that embed it, and the header would not compile.</summary>
    [Fact]
    public void Every_c_type_has_a_header_section()
    {
        int types = 0;
        foreach (var file in Directory.GetFiles(Path.Combine(RepoPaths.Root, "src", "VsockNative"), "*.cs", SearchOption.AllDirectories)
                     .Where(f => !f.Contains("/obj/") && !f.Contains("/bin/")))
        {
            var root = CSharpSyntaxTree.ParseText(File.ReadAllText(file)).GetRoot();
            foreach (var type in root.DescendantNodes().OfType<BaseTypeDeclarationSyntax>())
            {
                var names = type.AttributeLists.SelectMany(l => l.Attributes).Select(a => a.Name.ToString().Split('.')[^1]).ToList();
                if (!names.Any(n => n is "CStruct" or "CCallback" or "COpaque")) continue;
                types++;
                Assert.True(names.Any(n => n is "CSection" or "CSectionAttribute"),
                    $"{Path.GetFileName(file)}: {type.Identifier} has no [CSection(AbiSection..., order)]");
            }
        }
        Assert.True(types >= 10, $"found only {types} C types: the scan is broken");
    }

    private static System.Collections.Generic.IEnumerable<(string File, MethodDeclarationSyntax Method)> Exports()
    {
        var files = Directory.GetFiles(Path.Combine(RepoPaths.Root, "src", "VsockNative"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains("/obj/") && !f.Contains("/bin/"));
        foreach (var file in files)
        {
            var root = CSharpSyntaxTree.ParseText(File.ReadAllText(file), path: file).GetRoot();
            foreach (var method in root.DescendantNodes().OfType<MethodDeclarationSyntax>())
                if (method.AttributeLists.SelectMany(l => l.Attributes)
                    .Any(a => a.Name.ToString().StartsWith("UnmanagedCallersOnly") && a.ToString().Contains("EntryPoint")))
                    yield return (file, method);
        }
    }

    private static bool IsCatchAll(TryStatementSyntax t) =>
        t.Catches.Any(c => c.Declaration is null || c.Declaration.Type.ToString() is "Exception" or "System.Exception");
}
