using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using VsockNative.Generators.Model;
using VsockNative.Generators.Spec;
using VsockNative.Tests.Clang;
using Xunit;
using Xunit.Abstractions;

namespace VsockNative.Tests.Generator;

/// <summary>Cross-checks our wire-format spec against what Linux's own &lt;linux/virtio_vsock.h&gt;
/// defines, as libclang compiles it: struct layouts, enum constants and feature bits. Our spec may
/// define more than Linux does; everything Linux defines must match.</summary>
public class LinuxCrossCheckTests
{
    /// <summary>The transport feature bits we offer; Linux defines them in virtio_ring.h / virtio_config.h.</summary>
    private static readonly string[] TransportFeatures = { "VIRTIO_RING_F_INDIRECT_DESC", "VIRTIO_RING_F_EVENT_IDX", "VIRTIO_F_VERSION_1" };

    private const string TransportFeatureSet = "virtio_transport_features";

    private static readonly Lazy<LinuxHeader> Linux = new(() => LinuxHeaderReader.Read());

    private readonly ITestOutputHelper _output;

    public LinuxCrossCheckTests(ITestOutputHelper output) => _output = output;

    [Fact]
    public void Linux_header_is_read_with_its_structs_enums_and_feature_macros()
    {
        var linux = Linux.Value;
        _output.WriteLine($"{linux.Path}: {linux.Structs.Count} structs, {linux.EnumConstants.Count} enum constants, {linux.Macros.Count} VIRTIO_ macros");

        foreach (var name in new[] { "virtio_vsock_hdr", "virtio_vsock_config", "virtio_vsock_event" })
            Assert.Contains(linux.Structs, s => s.Name == name);
        Assert.Equal(44, linux.Structs.Single(s => s.Name == "virtio_vsock_hdr").Size);
        Assert.True(linux.EnumConstants.Count >= 15, $"only {linux.EnumConstants.Count} enum constants found in {linux.Path}");
        Assert.Equal(5, linux.EnumConstants.Single(c => c.Name == "VIRTIO_VSOCK_OP_RW").Value);
        Assert.True(linux.Macros.ContainsKey("VIRTIO_VSOCK_F_SEQPACKET"), $"VIRTIO_VSOCK_F_SEQPACKET not found in {linux.Path}");
        Assert.Equal(TransportFeatures.Length, LinuxHeaderReader.EvaluateMacros(TransportFeatures).Count);
    }

    [Fact]
    public void Spec_agrees_with_linux_virtio_vsock_h()
    {
        var spec = ParseSpec(File.ReadAllText(RepoPaths.Spec));
        var linux = Linux.Value;

        var mismatches = Compare(spec, linux, TransportMacros(spec));

        foreach (var s in linux.Structs)
            _output.WriteLine($"struct {s.Name}: {s.Size} bytes, {s.Fields.Count} fields");
        _output.WriteLine($"{linux.EnumConstants.Count} enum constants: {string.Join(", ", linux.EnumConstants.Select(c => $"{c.Name}={c.Value}"))}");
        _output.WriteLine($"macros: {string.Join(", ", linux.Macros.Select(m => $"{m.Key}={m.Value}"))}");
        Assert.True(mismatches.Count == 0,
            $"our spec ({RepoPaths.Spec}) disagrees with {linux.Path}:\n  " + string.Join("\n  ", mismatches));
    }

    [Theory]
    // two hdr fields swapped (same size, so only the order differs)
    [InlineData("le16 type;\n    le16 op;", "le16 op;\n    le16 type;", "virtio_vsock_hdr field 6 is 'op', Linux has 'type'")]
    // two hdr fields of different sizes swapped: offsets move
    [InlineData("le64 dst_cid;\n    le32 src_port;", "le32 src_port;\n    le64 dst_cid;", "virtio_vsock_hdr.dst_cid: offset 12, Linux has 8")]
    // a wider field: struct size and field size differ
    [InlineData("le32 fwd_cnt;", "le64 fwd_cnt;", "virtio_vsock_hdr.fwd_cnt: size 8, Linux has 4")]
    [InlineData("le32 fwd_cnt;", "le64 fwd_cnt;", "struct virtio_vsock_hdr: size 48, Linux has 44")]
    // a struct renamed away
    [InlineData("struct virtio_vsock_event {", "struct virtio_vsock_evt {", "struct virtio_vsock_event is not in our spec")]
    // a wrong enum value
    [InlineData("VIRTIO_VSOCK_OP_RW = 5,", "VIRTIO_VSOCK_OP_RW = 6,", "VIRTIO_VSOCK_OP_RW = 6, Linux has 5")]
    // a missing enum constant
    [InlineData("VIRTIO_VSOCK_SHUTDOWN_SEND = 2,", "", "enum constant VIRTIO_VSOCK_SHUTDOWN_SEND is not in our spec")]
    // a wrong feature bit
    [InlineData("VIRTIO_VSOCK_F_SEQPACKET (1)", "VIRTIO_VSOCK_F_SEQPACKET (5)", "feature VIRTIO_VSOCK_F_SEQPACKET is bit 5, Linux has 1")]
    // a wrong transport feature bit
    [InlineData("VIRTIO_F_VERSION_1 (32)", "VIRTIO_F_VERSION_1 (33)", "feature VIRTIO_F_VERSION_1 is bit 33, Linux has 32")]
    // a transport feature dropped from our set
    [InlineData("VIRTIO_RING_F_EVENT_IDX (29)", "VIRTIO_RING_F_EVENT_IDY (29)", "feature VIRTIO_RING_F_EVENT_IDX is not in our virtio_transport_features")]
    public void An_altered_spec_is_reported_as_a_mismatch(string find, string replace, string expected)
    {
        var original = File.ReadAllText(RepoPaths.Spec).ReplaceLineEndings("\n");
        Assert.Contains(find, original);
        var altered = original.Replace(find, replace, StringComparison.Ordinal);
        var spec = ParseSpec(altered);

        var mismatches = Compare(spec, Linux.Value, TransportMacros(spec));

        foreach (var m in mismatches) _output.WriteLine(m);
        Assert.Contains(mismatches, m => m.Contains(expected, StringComparison.Ordinal));
    }

    /// <summary>Everything Linux defines that our spec lacks or defines differently, one line each;
    /// empty when they agree.</summary>
    internal static List<string> Compare(SpecModel spec, LinuxHeader linux, IReadOnlyDictionary<string, long> transportMacros)
    {
        var mismatches = new List<string>();

        // 1. structs: same name, size, field names in order, offsets and sizes
        foreach (var ls in linux.Structs)
        {
            var ours = spec.Structs.FirstOrDefault(s => s.Name == ls.Name);
            if (ours is null)
            {
                mismatches.Add($"struct {ls.Name} is not in our spec");
                continue;
            }
            if (ours.Size != ls.Size)
                mismatches.Add($"struct {ls.Name}: size {ours.Size}, Linux has {ls.Size}");
            if (ours.Fields.Count != ls.Fields.Count)
                mismatches.Add($"struct {ls.Name}: {ours.Fields.Count} fields, Linux has {ls.Fields.Count}");
            for (int i = 0; i < Math.Min(ours.Fields.Count, ls.Fields.Count); i++)
            {
                FieldDef of = ours.Fields[i];
                LinuxField lf = ls.Fields[i];
                if (of.Name != lf.Name)
                    mismatches.Add($"{ls.Name} field {i + 1} is '{of.Name}', Linux has '{lf.Name}'");
            }
            foreach (var lf in ls.Fields)
            {
                var of = ours.Fields.FirstOrDefault(f => f.Name == lf.Name);
                if (of is null)
                {
                    mismatches.Add($"{ls.Name}.{lf.Name} is not in our spec");
                    continue;
                }
                if (of.Offset != lf.Offset)
                    mismatches.Add($"{ls.Name}.{lf.Name}: offset {of.Offset}, Linux has {lf.Offset}");
                if (of.Size != lf.Size)
                    mismatches.Add($"{ls.Name}.{lf.Name}: size {of.Size}, Linux has {lf.Size}");
            }
        }

        // 2. enum constants: in any of our enums, with the same value
        var members = spec.Enums.SelectMany(e => e.Members).ToDictionary(m => m.Name, m => m.Value, StringComparer.Ordinal);
        foreach (var lc in linux.EnumConstants)
        {
            if (!members.TryGetValue(lc.Name, out var value))
                mismatches.Add($"enum constant {lc.Name} is not in our spec (Linux: {lc.Enum}, value {lc.Value})");
            else if (lc.Value < 0 || value != (ulong)lc.Value)
                mismatches.Add($"{lc.Name} = {value}, Linux has {lc.Value}");
        }

        // 3a. the vsock feature bits Linux defines
        var bits = spec.FeatureSets.SelectMany(f => f.Bits).ToDictionary(b => b.Name, b => b.Bit, StringComparer.Ordinal);
        foreach (var (name, value) in linux.Macros.Where(m => m.Key.StartsWith("VIRTIO_VSOCK_F_", StringComparison.Ordinal)).OrderBy(m => m.Key, StringComparer.Ordinal))
        {
            if (!bits.TryGetValue(name, out var bit))
                mismatches.Add($"feature {name} is not in our spec (Linux: bit {value})");
            else if (bit != value)
                mismatches.Add($"feature {name} is bit {bit}, Linux has {value}");
        }

        // 3b. the transport feature bits we offer: every one (and at least the required ones) must be
        // a Linux virtio_config.h / virtio_ring.h macro with the same value
        var transport = spec.FeatureSets.FirstOrDefault(f => f.Name == TransportFeatureSet);
        var transportBits = transport?.Bits.ToDictionary(b => b.Name, b => b.Bit, StringComparer.Ordinal) ?? new Dictionary<string, int>();
        foreach (var name in TransportFeatures.Union(transportBits.Keys, StringComparer.Ordinal))
        {
            bool ours = transportBits.TryGetValue(name, out var bit);
            bool theirs = transportMacros.TryGetValue(name, out var value);
            if (!ours)
                mismatches.Add($"feature {name} is not in our {TransportFeatureSet}");
            else if (!theirs)
                mismatches.Add($"feature {name} (bit {bit}) is not defined by Linux's {string.Join(", ", LinuxHeaderReader.ProbeIncludes)}");
            else if (bit != value)
                mismatches.Add($"feature {name} is bit {bit}, Linux has {value}");
        }

        return mismatches;
    }

    /// <summary>The Linux values of the required transport features and of every bit in our
    /// transport feature set (names Linux does not define are left out).</summary>
    private static Dictionary<string, long> TransportMacros(SpecModel spec) =>
        LinuxHeaderReader.EvaluateMacros(TransportFeatures.Concat(
            spec.FeatureSets.Where(f => f.Name == TransportFeatureSet).SelectMany(f => f.Bits).Select(b => b.Name)));

    private static SpecModel ParseSpec(string text)
    {
        var result = SpecParser.Parse(RepoPaths.Spec, text);
        Assert.True(result.Model is not null,
            "the spec does not parse:\n" + string.Join("\n", result.Diagnostics.Select(d => $"{d.Path}({d.Line},{d.Column}): {d.Id} {d.Message}")));
        return result.Model!;
    }
}
