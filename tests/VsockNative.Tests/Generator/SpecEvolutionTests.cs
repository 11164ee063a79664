using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Reflection;
using Microsoft.CodeAnalysis;
using VsockNative.Generators.Emit;
using Xunit;

namespace VsockNative.Tests.Generator;

/// <summary>Adding a field to the spec regenerates both sides: the C# accessor and the C struct gain it
/// at the right offset with the right size, and nothing that existed moves.</summary>
public class SpecEvolutionTests
{
    private static string Evolved => GeneratorHarness.RealSpec.Replace(
        "    le32 fwd_cnt;\n};", "    le32 fwd_cnt;\n    le32 dgram_len;\n};");

    [Fact]
    public void Adding_dgram_len_after_fwd_cnt_grows_the_CSharp_accessor()
    {
        Assert.NotEqual(GeneratorHarness.RealSpec, Evolved);
        var before = Load(GeneratorHarness.Run(GeneratorHarness.RealSpec));
        var after = Load(GeneratorHarness.Run(Evolved));

        var oldHdr = before.GetType("VsockNative.Wire.VirtioVsockHdr")!;
        var newHdr = after.GetType("VsockNative.Wire.VirtioVsockHdr")!;
        Assert.Equal(44, Const(oldHdr, "Size"));
        Assert.Equal(48, Const(newHdr, "Size"));
        Assert.Equal(44, Const(newHdr, "DgramLenOffset"));
        Assert.Null(oldHdr.GetField("DgramLenOffset"));
        foreach (var f in oldHdr.GetFields().Where(f => f.Name.EndsWith("Offset", StringComparison.Ordinal)))
            Assert.Equal(f.GetRawConstantValue(), newHdr.GetField(f.Name)!.GetRawConstantValue());
        var prop = newHdr.GetProperty("DgramLen")!;
        Assert.Equal(typeof(uint), prop.PropertyType);
        Assert.NotNull(after.GetType("VsockNative.Wire.VirtioVsockHdrScatter")!.GetProperty("DgramLen"));

        // Behaviour: the compiled accessor writes little-endian bytes 44..47 and nothing else.
        var probe = after.GetType("WireProbe")!.GetMethod("WriteDgramLen")!;
        var bytes = (byte[])probe.Invoke(null, new object[] { 0x11223344u })!;
        Assert.Equal(new byte[] { 0x44, 0x33, 0x22, 0x11 }, bytes.AsSpan(44, 4).ToArray());
        Assert.All(bytes.Take(44), b => Assert.Equal(0, b));
    }

    [Fact]
    public void Adding_dgram_len_after_fwd_cnt_grows_the_C_struct()
    {
        var before = CHeader(GeneratorHarness.Run(GeneratorHarness.RealSpec));
        var after = CHeader(GeneratorHarness.Run(Evolved));
        Assert.DoesNotContain("dgram_len", before);
        Assert.Contains("    uint32_t dgram_len;\n} VSN_PACKED;", after);
        Assert.Contains("offsetof(struct vsn_virtio_vsock_hdr, dgram_len) == 44", after);
        Assert.Contains("sizeof(struct vsn_virtio_vsock_hdr) == 48", after);
        foreach (var line in before.Split('\n').Where(l => l.Contains("offsetof(struct vsn_virtio_vsock_hdr")))
            Assert.Contains(line, after);

        // And a real C compiler agrees: compile the evolved header and print the layout.
        var layout = CompileAndRun(after, """
            printf("%zu %zu %zu %zu\n", offsetof(struct vsn_virtio_vsock_hdr, dgram_len),
                   sizeof(((struct vsn_virtio_vsock_hdr *)0)->dgram_len), sizeof(struct vsn_virtio_vsock_hdr),
                   offsetof(struct vsn_virtio_vsock_hdr, fwd_cnt));
            """);
        Assert.Equal("44 4 48 40", layout.Trim());
    }

    private static string CHeader(GeneratorHarness.Result r)
    {
        // The header text is embedded as a verbatim string constant; compile and read it back.
        var asm = Load(r);
        return (string)asm.GetType("VsockNative.Generated.GeneratedCHeader")!.GetField("Text")!.GetRawConstantValue()!;
    }

    private static Assembly Load(GeneratorHarness.Result r)
    {
        const string probe = """
            public static class WireProbe
            {
                public static byte[] WriteDgramLen(uint value)
                {
                    var b = new byte[VsockNative.Wire.VirtioVsockHdr.Size];
            #if HAS_DGRAM_LEN
                    new VsockNative.Wire.VirtioVsockHdr(b).DgramLen = value;
            #endif
                    return b;
                }
            }
            """;
        var compilation = r.Output;
        bool evolved = compilation.SyntaxTrees.Any(t => t.ToString().Contains("DgramLenOffset"));
        var options = GeneratorHarness.ParseOptions.WithPreprocessorSymbols(evolved ? new[] { "HAS_DGRAM_LEN" } : Array.Empty<string>());
        compilation = compilation.AddSyntaxTrees(Microsoft.CodeAnalysis.CSharp.CSharpSyntaxTree.ParseText(probe, options));
        using var ms = new MemoryStream();
        var emit = compilation.Emit(ms);
        Assert.True(emit.Success, string.Join("\n", emit.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error)));
        return Assembly.Load(ms.ToArray());
    }

    private static object Const(Type t, string name) => t.GetField(name)!.GetRawConstantValue()!;

    internal static string CompileAndRun(string header, string body)
    {
        var dir = Directory.CreateTempSubdirectory("vsn-evolve-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, CHeaderEmitter.FileName), header);
            File.WriteAllText(Path.Combine(dir, "main.c"),
                "#include \"vsock_native.h\"\n#include <stdio.h>\nint main(void) {\n" + body + "\nreturn 0;\n}\n");
            Run("cc", $"-std=c11 -Wall -Wextra -Werror -pedantic -o {dir}/main {dir}/main.c", dir);
            return Run($"{dir}/main", "", dir);
        }
        finally { Directory.Delete(dir, true); }
    }

    private static string Run(string file, string args, string dir)
    {
        var psi = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = dir };
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"{file} {args} failed:\n{output}");
        return output;
    }
}
