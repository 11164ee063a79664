using System.Text;

namespace VsockNative.Generators.Emit;

/// <summary>A tiny indenting text writer; emitters only write text.</summary>
internal sealed class CodeWriter
{
    private readonly StringBuilder _sb = new();
    private int _indent;

    public CodeWriter Line(string text = "")
    {
        if (text.Length > 0) _sb.Append(' ', _indent * 4).Append(text);
        _sb.Append('\n');
        return this;
    }

    public CodeWriter Open(string text) { Line(text).Line("{"); _indent++; return this; }

    public CodeWriter Close(string suffix = "") { _indent--; return Line("}" + suffix); }

    public override string ToString() => _sb.ToString();
}
