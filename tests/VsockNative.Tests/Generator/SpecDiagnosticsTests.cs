using System.Linq;
using Microsoft.CodeAnalysis;
using Xunit;

namespace VsockNative.Tests.Generator;

/// <summary>Malformed spec input is a compiler diagnostic with an id, the file, a line and a column,
/// and no generated wire code (nothing half-right is emitted).</summary>
public class SpecDiagnosticsTests
{
    [Theory]
    // an unknown field type: le24 does not exist
    [InlineData("struct s {\n    le24 a;\n};\n", "VSN0002", 2, 5, "unknown type 'le24'")]
    // a nested struct is not a scalar type
    [InlineData("struct s {\n  struct t a;\n};\n", "VSN0002", 2, 3, "unknown type 'struct t'")]
    // two fields named len in one struct
    [InlineData("struct s {\n  le32 len;\n  le16 op;\n  le32 len;\n};\n", "VSN0003", 4, 8, "already has a field named 'len'")]
    // missing the closing brace: the file ends inside the struct
    [InlineData("struct s {\n  le32 a;\n", "VSN0001", 3, 1, "expected '}' to close struct 's'")]
    // missing the opening brace
    [InlineData("struct s\n  le32 a;\n};\n", "VSN0001", 2, 3, "expected '{'")]
    // missing the semicolon after a field
    [InlineData("struct s {\n  le32 a\n};\n", "VSN0001", 3, 1, "expected ';' after field 'a'")]
    // an enum value that is not a number
    [InlineData("enum e {\n  A = 1,\n  B = two,\n};\n", "VSN0004", 3, 7, "expected a non-negative number, found 'two'")]
    // a negative enum value
    [InlineData("enum e {\n  A = -1,\n};\n", "VSN0004", 2, 7, "expected a non-negative number, found '-1'")]
    // an enum value too big for its le16 type
    [InlineData("enum e : le16 {\n  A = 0x10000,\n};\n", "VSN0004", 2, 7, "does not fit its 16-bit type")]
    // a malformed hex literal
    [InlineData("enum e {\n  A = 0xZZ,\n};\n", "VSN0004", 2, 7, "found '0xZZ'")]
    // the same enum member in two enums
    [InlineData("enum a { X = 1 };\nenum b { X = 2 };\n", "VSN0005", 2, 10, "constant 'X' is already defined")]
    // two structs with one name
    [InlineData("struct s { u8 a; };\nstruct s { u8 b; };\n", "VSN0005", 2, 8, "'s' is already defined")]
    // a feature bit beyond 63
    [InlineData("features f {\n  F_A (64) too high\n};\n", "VSN0006", 2, 8, "must be a number from 0 to 63")]
    // one bit used twice
    [InlineData("features f {\n  F_A (3) a\n  F_B (3) b\n};\n", "VSN0006", 3, 8, "bit 3 is already used")]
    // an empty struct
    [InlineData("struct s {\n};\n", "VSN0007", 1, 8, "has no fields")]
    // an unterminated comment
    [InlineData("struct s { u8 a; };\n/* never closed\n", "VSN0001", 2, 1, "unterminated comment")]
    // something that is not a declaration at all
    [InlineData("typedef int x;\n", "VSN0001", 1, 1, "expected 'struct', 'enum' or 'features'")]
    // an array field
    [InlineData("struct s {\n  u8 data[4];\n};\n", "VSN0001", 2, 10, "arrays are not supported")]
    public void Malformed_spec_is_a_diagnostic_with_file_line_and_column(string spec, string id, int line, int column, string message)
    {
        var result = GeneratorHarness.Run(spec);

        var d = Assert.Single(result.GeneratorDiagnostics, x => x.Id == id);
        Assert.Equal(DiagnosticSeverity.Error, d.Severity);
        var span = d.Location.GetLineSpan();
        Assert.Equal(GeneratorHarness.SpecPath, span.Path);
        Assert.Equal(line, span.StartLinePosition.Line + 1);
        Assert.Equal(column, span.StartLinePosition.Character + 1);
        Assert.Contains(message, d.GetMessage());
        Assert.DoesNotContain(result.Run.Results.Single().GeneratedSources, s => s.HintName.StartsWith("VsockNative.Wire.", System.StringComparison.Ordinal));
    }

    [Fact]
    public void Every_error_in_a_file_is_reported_not_just_the_first()
    {
        // unknown type on line 2, duplicate field on line 4, bad enum value on line 7
        var spec = "struct s {\n  le24 a;\n  le32 b;\n  le32 b;\n};\nenum e {\n  A = zz,\n};\n";
        var ids = GeneratorHarness.Run(spec).GeneratorDiagnostics.Select(d => (d.Id, d.Location.GetLineSpan().StartLinePosition.Line + 1)).ToList();
        Assert.Equal(new[] { ("VSN0002", 2), ("VSN0003", 4), ("VSN0004", 7) }, ids);
    }

    [Fact]
    public void No_spec_file_or_two_spec_files_is_a_diagnostic()
    {
        var none = GeneratorHarness.Run(GeneratorHarness.Driver(), GeneratorHarness.Compilation());
        Assert.Contains(none.GeneratorDiagnostics, d => d.Id == "VSN0008");
        var two = GeneratorHarness.Run(GeneratorHarness.Driver(
            new GeneratorHarness.Text("/a.vsockspec", "struct a { u8 x; };"),
            new GeneratorHarness.Text("/b.vsockspec", "struct b { u8 y; };")), GeneratorHarness.Compilation());
        Assert.Contains(two.GeneratorDiagnostics, d => d.Id == "VSN0008" && d.GetMessage().Contains("Found 2"));
    }

    [Fact]
    public void The_real_spec_has_no_diagnostics()
    {
        var result = GeneratorHarness.Run(GeneratorHarness.RealSpec);
        Assert.Empty(result.GeneratorDiagnostics);
        Assert.Empty(GeneratorHarness.CompileErrors(result.Output));
    }
}
