using System.Collections.Generic;

namespace VsockNative.Generators.Spec;

/// <summary>Splits spec text into tokens; skips white space and C comments (/* */ and //).
/// Never fails: characters it does not know become <see cref="TokenKind.Other"/> tokens, which the
/// parser reports where they are not allowed (feature descriptions may contain anything).</summary>
internal static class SpecLexer
{
    public static List<SpecToken> Tokenize(string text, out (int Start, int Line, int Column)? unterminatedComment)
    {
        var tokens = new List<SpecToken>();
        unterminatedComment = null;
        int i = 0, line = 1, lineStart = 0;
        while (i < text.Length)
        {
            char c = text[i];
            if (c == '\n') { i++; line++; lineStart = i; continue; }
            if (char.IsWhiteSpace(c)) { i++; continue; }
            int col = i - lineStart + 1;
            if (c == '/' && i + 1 < text.Length && text[i + 1] == '/')
            {
                while (i < text.Length && text[i] != '\n') i++;
                continue;
            }
            if (c == '/' && i + 1 < text.Length && text[i + 1] == '*')
            {
                int start = i, startLine = line;
                i += 2;
                while (i < text.Length && !(text[i] == '*' && i + 1 < text.Length && text[i + 1] == '/'))
                {
                    if (text[i] == '\n') { line++; lineStart = i + 1; }
                    i++;
                }
                if (i >= text.Length) { unterminatedComment = (start, startLine, col); break; }
                i += 2;
                continue;
            }
            int s = i;
            if (char.IsLetter(c) || c == '_')
            {
                while (i < text.Length && (char.IsLetterOrDigit(text[i]) || text[i] == '_')) i++;
                tokens.Add(new SpecToken(TokenKind.Identifier, text.Substring(s, i - s), s, line, col));
            }
            else if (char.IsDigit(c) || (c == '-' && i + 1 < text.Length && char.IsDigit(text[i + 1])))
            {
                i++;
                while (i < text.Length && (char.IsLetterOrDigit(text[i]) || text[i] == '_')) i++;
                tokens.Add(new SpecToken(TokenKind.Number, text.Substring(s, i - s), s, line, col));
            }
            else
            {
                i++;
                var kind = "{};,=:()[]".IndexOf(c) >= 0 ? TokenKind.Punct : TokenKind.Other;
                tokens.Add(new SpecToken(kind, c.ToString(), s, line, col));
            }
        }
        tokens.Add(new SpecToken(TokenKind.End, "", text.Length, line, text.Length - lineStart + 1));
        return tokens;
    }
}
