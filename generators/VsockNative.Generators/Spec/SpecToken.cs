namespace VsockNative.Generators.Spec;

internal enum TokenKind { Identifier, Number, Punct, Other, End }

/// <summary>One token of the spec text with its position (line and column are 1-based).</summary>
internal readonly struct SpecToken
{
    public SpecToken(TokenKind kind, string text, int start, int line, int column)
    {
        Kind = kind; Text = text; Start = start; Line = line; Column = column;
    }

    public TokenKind Kind { get; }
    public string Text { get; }
    public int Start { get; }
    public int Line { get; }
    public int Column { get; }

    public bool Is(string punctOrWord) => Text == punctOrWord && Kind != TokenKind.End;

    public string Describe() => Kind == TokenKind.End ? "end of file" : $"'{Text}'";
}
