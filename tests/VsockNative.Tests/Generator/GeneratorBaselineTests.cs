using System;
using System.IO;
using System.Linq;
using Xunit;

namespace VsockNative.Tests.Generator;

/// <summary>The generated text for the real spec equals the baseline files in Baselines/. After an
/// intended change to the generator or the spec, regenerate them with
/// <c>VSN_UPDATE_BASELINES=1 dotnet test tests/VsockNative.Tests --filter GeneratorBaseline</c> and review the diff.</summary>
public class GeneratorBaselineTests
{
    private static string BaselineDir => Path.Combine(RepoPaths.Root, "tests", "VsockNative.Tests", "Generator", "Baselines");

    [Theory]
    [InlineData("VsockNative.Wire.VirtioVsockHdr.g.cs")]
    [InlineData("VsockNative.Wire.Constants.g.cs")]
    [InlineData("VsockNative.Wire.Support.g.cs")]
    public void Generated_source_matches_its_baseline(string hintName)
    {
        var result = GeneratorHarness.Run(GeneratorHarness.RealSpec);
        var actual = result.Source(hintName).Replace("\r\n", "\n");
        var path = Path.Combine(BaselineDir, hintName + ".txt");
        if (Environment.GetEnvironmentVariable("VSN_UPDATE_BASELINES") == "1")
        {
            Directory.CreateDirectory(BaselineDir);
            File.WriteAllText(path, actual);
        }
        Assert.True(File.Exists(path), $"missing baseline {path}; run with VSN_UPDATE_BASELINES=1");
        var expected = File.ReadAllText(path);
        if (expected != actual)
        {
            var e = expected.Split('\n');
            var a = actual.Split('\n');
            int line = Enumerable.Range(0, Math.Min(e.Length, a.Length)).FirstOrDefault(i => e[i] != a[i], Math.Min(e.Length, a.Length));
            Assert.Fail($"{hintName} differs from its baseline at line {line + 1}:\n expected: {(line < e.Length ? e[line] : "<end>")}\n actual:   {(line < a.Length ? a[line] : "<end>")}");
        }
    }

    [Fact]
    public void The_committed_header_is_what_the_library_generates()
    {
        // CI also checks this through ctest (header_fresh); here it fails fast for managed-only work.
        var committed = File.ReadAllText(RepoPaths.Header);
        Assert.True(committed == VsockNative.Generated.GeneratedCHeader.Text,
            "include/vsock_native.h is stale: run `cmake --build build --target update-header` and commit it");
    }
}
