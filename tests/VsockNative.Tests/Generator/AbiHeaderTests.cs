using System.Linq;
using Xunit;

namespace VsockNative.Tests.Generator;

/// <summary>The ABI half of the header is derived from the exported C# methods themselves.</summary>
public class AbiHeaderTests
{
    private const string Attributes = GeneratorHarness.AbiAttributes;

    private static string Header(params string[] sources)
    {
        var r = GeneratorHarness.Run("struct s { u8 a; };", sources.Prepend(Attributes).ToArray());
        Assert.Empty(r.GeneratorDiagnostics);
        Assert.Empty(GeneratorHarness.CompileErrors(r.Output));
        return r.Source("VsockNative.AbiHeader.g.cs");
    }

    [Fact]
    public void A_new_export_appears_as_a_prototype_with_its_doc_and_C_types()
    {
        var text = Header("""
            using VsockNative.Interop;
            [COpaque("vsn_thing")] struct Thing { public nint V; }
            [CCallback("vsn_cb_fn", "user", "value")] unsafe struct Cb { public delegate* unmanaged<void*, ulong, int> Fn; }
            [CStruct("vsn_pair")] struct Pair { public ushort A; public ulong B; public Cb Callback; }
            static unsafe class X
            {
                [CDefine("VSN_LIMIT")] public const uint Limit = 7;
                /// <summary>Does a thing.</summary>
                /// <param name="t">The thing.</param>
                /// <returns>0 or -errno.</returns>
                [System.Runtime.InteropServices.UnmanagedCallersOnly(EntryPoint = "vsn_thing_do")]
                public static int Do(Thing t, [CConst] Pair* p, Thing* out_t, sbyte* name, nuint n) => 0;
            }
            """);
        Assert.Contains("int32_t vsn_thing_do(vsn_thing *t, const vsn_pair *p, vsn_thing **out_t, const char *name, size_t n);", text);
        Assert.Contains(" * Does a thing.", text);
        Assert.Contains(" * @param t The thing.", text);
        Assert.Contains(" * @return 0 or -errno.", text);
        Assert.Contains("typedef struct vsn_thing vsn_thing;", text);
        Assert.Contains("typedef int32_t (*vsn_cb_fn)(void *user, uint64_t value);", text);
        Assert.Contains("#define VSN_LIMIT 7u", text);
        // natural alignment: a (2) at 0, b (8) at 8, callback at 16, size 24
        Assert.Contains("offsetof(vsn_pair, a) == 0", text);
        Assert.Contains("offsetof(vsn_pair, b) == 8", text);
        Assert.Contains("offsetof(vsn_pair, callback) == 16", text);
        Assert.Contains("sizeof(vsn_pair) == 24", text);
    }

    [Fact]
    public void A_method_without_an_entry_point_is_not_in_the_header()
    {
        var text = Header("""
            static class X
            {
                [System.Runtime.InteropServices.UnmanagedCallersOnly]
                public static int Hidden() => 0;
            }
            """);
        Assert.DoesNotContain("Hidden", text);
        Assert.DoesNotContain("hidden", text);
    }

    [Theory]
    // bool has no fixed C ABI size: refused
    [InlineData("[System.Runtime.InteropServices.UnmanagedCallersOnly(EntryPoint = \"vsn_b\")] public static int B(bool x) => 0;", "VSN0100", "parameter 'x' of 'vsn_b'")]
    // an export without the project prefix
    [InlineData("[System.Runtime.InteropServices.UnmanagedCallersOnly(EntryPoint = \"device_create\")] public static int C() => 0;", "VSN0101", "must start with 'vsn_'")]
    // a bare function pointer cannot be named in C
    [InlineData("[System.Runtime.InteropServices.UnmanagedCallersOnly(EntryPoint = \"vsn_f\")] public static unsafe int F(delegate* unmanaged<void> f) => 0;", "VSN0100", "[CCallback]")]
    public void Exports_that_cannot_be_described_in_C_are_diagnostics(string member, string id, string message)
    {
        var r = GeneratorHarness.Run("struct s { u8 a; };", Attributes, "static class X { " + member + " }");
        var d = Assert.Single(r.GeneratorDiagnostics);
        Assert.Equal(id, d.Id);
        Assert.Contains(message, d.GetMessage());
        Assert.Equal("/src/File1.cs", d.Location.GetLineSpan().Path);
    }

    [Fact]
    public void A_CStruct_with_explicit_packing_is_a_diagnostic()
    {
        var r = GeneratorHarness.Run("struct s { u8 a; };", Attributes, """
            [VsockNative.Interop.CStruct("vsn_p")]
            [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential, Pack = 1)]
            struct P { public byte A; public ulong B; }
            """);
        Assert.Contains(r.GeneratorDiagnostics, d => d.Id == "VSN0102");
    }

    [Fact]
    public void Sections_order_the_header_not_files_and_each_gets_its_heading()
    {
        // declared in the "wrong" order across two files: the header follows [CSection], not the sources
        var text = Header("""
            using VsockNative.Interop;
            static class Late
            {
                /// <summary>Reads counters.</summary>
                [System.Runtime.InteropServices.UnmanagedCallersOnly(EntryPoint = "vsn_counters")]
                [CSection(AbiSection.Diagnostics, 1)]
                public static int Counters() => 0;
                /// <summary>Destroys.</summary>
                [System.Runtime.InteropServices.UnmanagedCallersOnly(EntryPoint = "vsn_destroy")]
                [CSection(AbiSection.Lifecycle, 2)]
                public static int Destroy() => 0;
            }
            """, """
            using VsockNative.Interop;
            /// <summary>The counters.</summary>
            [CSection(AbiSection.Diagnostics, 1)]
            [CStruct("vsn_counts", DeprecatedAlias = "vsn_old_counts", DeprecatedSince = "0.5")] struct Counts { public ulong N; }
            [CSection(AbiSection.Library)]
            static class Versions
            {
                /// <summary>First.</summary>
                [CDefine("VSN_B")] public const uint B = 1;
                /// <summary>Second.</summary>
                [CDefine("VSN_A")] public const uint A = 2;
            }
            static class Early
            {
                /// <summary>Creates.</summary>
                [System.Runtime.InteropServices.UnmanagedCallersOnly(EntryPoint = "vsn_create")]
                [CSection(AbiSection.Lifecycle, 1)]
                public static int Create() => 0;
            }
            """);
        int At(string s) { int i = text.IndexOf(s, System.StringComparison.Ordinal); Assert.True(i >= 0, s); return i; }
        var order = new[]
        {
            "===== Library: version ===== */", "#define VSN_B 1u", "#define VSN_A 2u",
            "===== Device lifecycle: create, destroy ===== */", "vsn_create(void);", "vsn_destroy(void);",
            "===== Diagnostics: counters ===== */", "} vsn_counts;", "typedef vsn_counts vsn_old_counts;", "vsn_counters(void);",
        };
        for (int i = 1; i < order.Length; i++) Assert.True(At(order[i - 1]) < At(order[i]), $"{order[i - 1]} before {order[i]}");
        Assert.Contains("Deprecated since ABI 0.5 (kept for one ABI minor): the former name of vsn_counts; use vsn_counts.", text);
    }
}
