using System;
using System.Collections.Generic;
using System.Linq;
using System.Xml.Linq;

namespace VsockNative.Generators.Abi;

/// <summary>Turns a C# XML doc comment into plain lines for a C comment:
/// summary, then "@param name text" and "@return text", then remarks.</summary>
internal static class DocComment
{
    public static string ToPlain(string? xml)
    {
        if (string.IsNullOrWhiteSpace(xml)) return "";
        XElement root;
        try { root = XElement.Parse(xml!); }
        catch (System.Xml.XmlException) { return ""; }
        var lines = new List<string>();
        Add(lines, "", root.Element("summary"));
        foreach (var p in root.Elements("param")) Add(lines, "@param " + (string?)p.Attribute("name") + " ", p);
        Add(lines, "@return ", root.Element("returns"));
        Add(lines, "", root.Element("remarks"));
        return string.Join("\n", lines);
    }

    private static void Add(List<string> lines, string prefix, XElement? element)
    {
        if (element is null) return;
        var text = string.Concat(element.Nodes().Select(Flatten));
        var words = text.Split(new[] { ' ', '\n', '\r', '\t' }, StringSplitOptions.RemoveEmptyEntries);
        if (words.Length == 0) return;
        var line = prefix;
        foreach (var w in words)
        {
            if (line.Length + w.Length > 92 && line.Trim().Length > 0) { lines.Add(line.TrimEnd()); line = prefix.Length > 0 ? "    " : ""; }
            line += w + " ";
        }
        lines.Add(line.TrimEnd());
    }

    private static string Flatten(XNode node) => node switch
    {
        XText t => t.Value,
        XElement { Name.LocalName: "c" or "b" or "i" } e => e.Value,
        XElement { Name.LocalName: "paramref" or "typeparamref" } e => (string?)e.Attribute("name") ?? "",
        XElement { Name.LocalName: "see" } e => (string?)e.Attribute("langword") ?? Short((string?)e.Attribute("cref")),
        XElement { Name.LocalName: "para" } e => " " + string.Concat(e.Nodes().Select(Flatten)) + " ",
        XElement e => string.Concat(e.Nodes().Select(Flatten)),
        _ => "",
    };

    private static string Short(string? cref) => cref is null ? "" : cref.Substring(cref.LastIndexOfAny(new[] { '.', ':' }) + 1);
}
