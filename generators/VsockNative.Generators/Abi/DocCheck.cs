using System.Collections.Generic;
using System.Linq;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Text;
using VsockNative.Generators.Model;

namespace VsockNative.Generators.Abi;

/// <summary>Finds words in the doc comments that go into the header which look like C# names, so the
/// header speaks C only (VSN0103). A word is suspect when it is
/// - mixed case with a lower-case letter before an upper-case one (MaxPendingResets, QueueCounters),
/// - dotted with a capitalised part (MessageQueue.Capacity; hdr.len is fine),
/// - a C# type keyword C does not have (ulong, uint, ushort, sbyte, nint, nuint),
/// - the target of a &lt;see cref&gt; (always a C# symbol).
/// Capitalised words that start a sentence, acronyms and spec names (REQUEST, VIRTIO_VSOCK_OP_RW),
/// snake_case and function-like names (vsn_device_poll()) are never suspect. A suspect is reported
/// only when the header does not declare the name (checked later against the whole model).</summary>
internal static class DocCheck
{
    private static readonly HashSet<string> CSharpKeywords = new() { "ulong", "uint", "ushort", "sbyte", "nint", "nuint" };

    private static readonly Regex WordPattern = new(@"(?<![A-Za-z0-9_])[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*", RegexOptions.CultureInvariant);
    private static readonly Regex MixedCase = new("[a-z][A-Z]", RegexOptions.CultureInvariant);
    private static readonly Regex Capitalised = new("^[A-Z][a-z]", RegexOptions.CultureInvariant);

    /// <summary>The suspect words of the symbol's doc comment and, for a struct, of its fields' ones.</summary>
    public static EquatableArray<DocSuspect> Find(ISymbol symbol, string owner)
    {
        var found = new List<DocSuspect>();
        Add(found, symbol, owner);
        if (symbol is INamedTypeSymbol { TypeKind: TypeKind.Struct } type)
            foreach (var f in type.GetMembers().OfType<IFieldSymbol>().Where(f => !f.IsStatic && !f.IsConst))
                Add(found, f, owner + "." + AbiCollector.CName(f));
        return EquatableArray.From(found);
    }

    /// <summary>The suspect words of one doc comment (XML as Roslyn gives it), each once.</summary>
    public static IEnumerable<string> Words(string? xml)
    {
        var words = new List<string>();
        foreach (Match m in WordPattern.Matches(DocComment.ToPlain(xml)))
            if (IsSuspect(m.Value) && !words.Contains(m.Value)) words.Add(m.Value);
        foreach (var cref in Crefs(xml))
            if (!words.Contains(cref)) words.Add(cref);
        return words;
    }

    public static bool IsSuspect(string word) =>
        CSharpKeywords.Contains(word) || MixedCase.IsMatch(word) ||
        (word.IndexOf('.') >= 0 && word.Split('.').Any(part => Capitalised.IsMatch(part)));

    private static IEnumerable<string> Crefs(string? xml)
    {
        if (string.IsNullOrWhiteSpace(xml)) yield break;
        XElement root;
        try { root = XElement.Parse(xml!); }
        catch (System.Xml.XmlException) { yield break; }
        foreach (var see in root.Descendants().Where(e => e.Name.LocalName is "see" or "seealso"))
        {
            var cref = (string?)see.Attribute("cref");
            if (cref is null) continue;
            var name = cref.Substring(cref.IndexOf(':') + 1);
            int paren = name.IndexOf('(');
            if (paren >= 0) name = name.Substring(0, paren);
            yield return name.Substring(name.LastIndexOf('.') + 1);
        }
    }

    private static void Add(List<DocSuspect> found, ISymbol symbol, string owner)
    {
        foreach (var word in Words(symbol.GetDocumentationCommentXml()))
            found.Add(new DocSuspect(word, AbiCollector.At(Locate(symbol, word), AbiDiagnosticIds.CSharpNameInDoc,
                $"the doc comment of '{owner}' goes into the C header but names '{word}', a C# name the header does not " +
                "declare: say it in C terms (a vsn_/VSN_ name of the header, a C type, or plain words)")));
    }

    /// <summary>The word inside the symbol's doc comment; else the doc comment; else the symbol.</summary>
    private static Location? Locate(ISymbol symbol, string word)
    {
        var node = symbol.DeclaringSyntaxReferences.FirstOrDefault()?.GetSyntax();
        while (node is not null and not MemberDeclarationSyntax) node = node.Parent;
        if (node is null) return symbol.Locations.FirstOrDefault();
        var pattern = new Regex(@"(?<![A-Za-z0-9_])" + Regex.Escape(word) + "(?![A-Za-z0-9_])", RegexOptions.CultureInvariant);
        foreach (var trivia in node.GetLeadingTrivia())
        {
            if (!trivia.IsKind(SyntaxKind.SingleLineDocumentationCommentTrivia) && !trivia.IsKind(SyntaxKind.MultiLineDocumentationCommentTrivia))
                continue;
            var m = pattern.Match(trivia.ToFullString());
            return Location.Create(node.SyntaxTree, m.Success ? new TextSpan(trivia.FullSpan.Start + m.Index, m.Length) : trivia.Span);
        }
        return symbol.Locations.FirstOrDefault();
    }
}
