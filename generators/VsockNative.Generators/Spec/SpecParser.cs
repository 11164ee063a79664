using System;
using System.Collections.Generic;
using System.Globalization;
using VsockNative.Generators.Model;

namespace VsockNative.Generators.Spec;

/// <summary>
/// Parses the spec description (see README, "The spec description"):
/// <code>
/// struct NAME { TYPE field; ... };                  TYPE: u8 le16 le32 le64 (u16 u32 u64 = le)
/// enum NAME [: TYPE] { MEMBER [= VALUE], ... };     VALUE: decimal or 0x hex; default previous + 1
/// features NAME { FEATURE_NAME (BIT) free text to the end of the line ... };
/// </code>
/// The first syntax error ends parsing; semantic errors (unknown type, duplicates, bad values)
/// are all reported. Any error means no model, so nothing half-right is generated.
/// </summary>
public sealed class SpecParser
{
    private readonly string _path;
    private readonly string _text;
    private readonly List<SpecToken> _tokens;
    private readonly List<SpecDiagnostic> _diagnostics = new();
    private readonly HashSet<string> _topNames = new(StringComparer.Ordinal);
    private readonly HashSet<string> _constantNames = new(StringComparer.Ordinal);
    private int _pos;

    private SpecParser(string path, string text)
    {
        _path = path;
        _text = text;
        _tokens = SpecLexer.Tokenize(text, out var unterminated);
        if (unterminated is { } u)
            _diagnostics.Add(new SpecDiagnostic(SpecDiagnosticIds.Syntax, "unterminated comment", path, u.Line, u.Column, u.Start, 2));
    }

    /// <summary>Parses <paramref name="text"/>; <paramref name="path"/> is used in diagnostics.</summary>
    public static ParseResult Parse(string path, string text)
    {
        var parser = new SpecParser(path, text);
        var model = parser.ParseFile();
        var diags = parser._diagnostics;
        return new ParseResult(diags.Count == 0 ? model : null, EquatableArray.From(diags));
    }

    private SpecModel ParseFile()
    {
        var structs = new List<StructDef>();
        var enums = new List<EnumDef>();
        var features = new List<FeatureSet>();
        try
        {
            while (Peek.Kind != TokenKind.End)
            {
                var kw = Peek;
                if (kw.Is("struct")) structs.Add(ParseStruct());
                else if (kw.Is("enum")) enums.Add(ParseEnum());
                else if (kw.Is("features")) features.Add(ParseFeatures());
                else throw Syntax(kw, $"expected 'struct', 'enum' or 'features', found {kw.Describe()}");
            }
        }
        catch (SyntaxError) { /* reported; parsing stops at the first syntax error */ }
        return new SpecModel(_path, EquatableArray.From(structs), EquatableArray.From(enums), EquatableArray.From(features));
    }

    private StructDef ParseStruct()
    {
        var kw = Next();
        var name = ExpectIdentifier("struct name");
        DeclareTop(name);
        Expect("{", $"after 'struct {name.Text}'");
        var fields = new List<FieldDef>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        int offset = 0;
        while (!Peek.Is("}"))
        {
            if (Peek.Kind == TokenKind.End) throw Syntax(Peek, $"expected '}}' to close struct '{name.Text}', found end of file");
            var typeTok = ExpectIdentifier("field type");
            if (typeTok.Is("struct") && Peek.Kind == TokenKind.Identifier)
            {
                var inner = Next();  // report 'struct name' as one unknown type, then carry on
                typeTok = new SpecToken(TokenKind.Identifier, "struct " + inner.Text, typeTok.Start, typeTok.Line, typeTok.Column);
            }
            var fieldTok = ExpectIdentifier("field name");
            if (Peek.Is("[")) throw Syntax(Peek, "arrays are not supported in the spec description");
            Expect(";", $"after field '{fieldTok.Text}'");
            var type = ParseWireType(typeTok);
            if (!seen.Add(fieldTok.Text))
                Report(SpecDiagnosticIds.DuplicateField, fieldTok, $"struct '{name.Text}' already has a field named '{fieldTok.Text}'");
            if (type is { } t)
            {
                fields.Add(new FieldDef(fieldTok.Text, t, offset));
                offset += (int)t;
            }
        }
        Next();
        Expect(";", $"after the '}}' of struct '{name.Text}'");
        if (fields.Count == 0 && seen.Count == 0) Report(SpecDiagnosticIds.Empty, name, $"struct '{name.Text}' has no fields");
        return new StructDef(name.Text, EquatableArray.From(fields), offset);
    }

    private EnumDef ParseEnum()
    {
        var kw = Next();
        var name = ExpectIdentifier("enum name (the spec's anonymous enums need a name here)");
        DeclareTop(name);
        var underlying = WireType.Le32;
        if (Peek.Is(":"))
        {
            Next();
            underlying = ParseWireType(ExpectIdentifier("enum type")) ?? WireType.Le32;
        }
        Expect("{", $"after 'enum {name.Text}'");
        var members = new List<EnumMember>();
        ulong next = 0;
        while (!Peek.Is("}"))
        {
            if (Peek.Kind == TokenKind.End) throw Syntax(Peek, $"expected '}}' to close enum '{name.Text}', found end of file");
            var member = ExpectIdentifier("enum member name");
            ulong value = next;
            if (Peek.Is("="))
            {
                Next();
                value = ParseEnumValue(Next(), underlying, name.Text) ?? next;
            }
            DeclareConstant(member);
            members.Add(new EnumMember(member.Text, value));
            next = value + 1;
            if (!Peek.Is("}")) Expect(",", $"after enum member '{member.Text}'");
        }
        Next();
        Expect(";", $"after the '}}' of enum '{name.Text}'");
        if (members.Count == 0) Report(SpecDiagnosticIds.Empty, name, $"enum '{name.Text}' has no members");
        return new EnumDef(name.Text, underlying, EquatableArray.From(members));
    }

    private FeatureSet ParseFeatures()
    {
        var kw = Next();
        var name = ExpectIdentifier("feature set name");
        DeclareTop(name);
        Expect("{", $"after 'features {name.Text}'");
        var bits = new List<FeatureBit>();
        var used = new HashSet<int>();
        while (!Peek.Is("}"))
        {
            if (Peek.Kind == TokenKind.End) throw Syntax(Peek, $"expected '}}' to close features '{name.Text}', found end of file");
            var feature = ExpectIdentifier("feature name");
            Expect("(", $"after feature '{feature.Text}' (write NAME (BIT) description)");
            var bitTok = Next();
            Expect(")", $"after the bit number of '{feature.Text}'");
            int bit = -1;
            if (bitTok.Kind != TokenKind.Number || !TryParseNumber(bitTok.Text, out var b) || b > 63)
                Report(SpecDiagnosticIds.BadFeatureBit, bitTok, $"feature bit of '{feature.Text}' must be a number from 0 to 63, found {bitTok.Describe()}");
            else if (!used.Add((int)b))
                Report(SpecDiagnosticIds.BadFeatureBit, bitTok, $"bit {b} is already used in features '{name.Text}'");
            else bit = (int)b;
            DeclareConstant(feature);
            string description = TakeRestOfLine(feature.Line);
            if (bit >= 0) bits.Add(new FeatureBit(feature.Text, bit, description));
        }
        Next();
        if (Peek.Is(";")) Next();
        if (bits.Count == 0 && used.Count == 0) Report(SpecDiagnosticIds.Empty, name, $"features '{name.Text}' lists no bits");
        return new FeatureSet(name.Text, EquatableArray.From(bits));
    }

    private string TakeRestOfLine(int line)
    {
        if (Peek.Kind == TokenKind.End || Peek.Line != line || Peek.Is("}")) return "";
        int start = Peek.Start;
        while (Peek.Kind != TokenKind.End && Peek.Line == line && !Peek.Is("}")) Next();
        int end = _text.IndexOf('\n', start);
        var rest = _text.Substring(start, (end < 0 ? _text.Length : end) - start);
        int comment = rest.IndexOf("/*", System.StringComparison.Ordinal);
        if (comment < 0) comment = rest.IndexOf("//", System.StringComparison.Ordinal);
        return (comment >= 0 ? rest.Substring(0, comment) : rest).Trim();
    }

    private WireType? ParseWireType(SpecToken tok)
    {
        switch (tok.Text)
        {
            case "u8": return WireType.U8;
            case "le16": case "u16": return WireType.Le16;
            case "le32": case "u32": return WireType.Le32;
            case "le64": case "u64": return WireType.Le64;
        }
        Report(SpecDiagnosticIds.UnknownType, tok, $"unknown type '{tok.Text}' (known: u8, le16, le32, le64)");
        return null;
    }

    private ulong? ParseEnumValue(SpecToken tok, WireType type, string enumName)
    {
        if (tok.Kind != TokenKind.Number || !TryParseNumber(tok.Text, out var v))
        {
            Report(SpecDiagnosticIds.BadEnumValue, tok, $"enum '{enumName}': expected a non-negative number, found {tok.Describe()}");
            return null;
        }
        ulong max = type == WireType.Le64 ? ulong.MaxValue : (1UL << (8 * (int)type)) - 1;
        if (v > max)
        {
            Report(SpecDiagnosticIds.BadEnumValue, tok, $"enum '{enumName}': value {tok.Text} does not fit its {(int)type * 8}-bit type");
            return null;
        }
        return v;
    }

    private static bool TryParseNumber(string text, out ulong value)
    {
        if (text.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
            return ulong.TryParse(text.Substring(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value) && text.Length > 2;
        return ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value);
    }

    private void DeclareTop(SpecToken name)
    {
        if (!_topNames.Add(name.Text)) Report(SpecDiagnosticIds.DuplicateName, name, $"'{name.Text}' is already defined");
    }

    private void DeclareConstant(SpecToken name)
    {
        if (!_constantNames.Add(name.Text)) Report(SpecDiagnosticIds.DuplicateName, name, $"constant '{name.Text}' is already defined");
    }

    private SpecToken Peek => _tokens[_pos];

    private SpecToken Next()
    {
        var t = _tokens[_pos];
        if (t.Kind != TokenKind.End) _pos++;
        return t;
    }

    private SpecToken ExpectIdentifier(string what)
    {
        var t = Peek;
        if (t.Kind != TokenKind.Identifier) throw Syntax(t, $"expected {what}, found {t.Describe()}");
        return Next();
    }

    private void Expect(string punct, string where)
    {
        var t = Peek;
        if (!t.Is(punct)) throw Syntax(t, $"expected '{punct}' {where}, found {t.Describe()}");
        Next();
    }

    private void Report(string id, SpecToken at, string message) =>
        _diagnostics.Add(new SpecDiagnostic(id, message, _path, at.Line, at.Column, at.Start, Math.Max(at.Text.Length, 1)));

    private SyntaxError Syntax(SpecToken at, string message)
    {
        Report(SpecDiagnosticIds.Syntax, at, message);
        return new SyntaxError();
    }

    private sealed class SyntaxError : Exception { }
}
