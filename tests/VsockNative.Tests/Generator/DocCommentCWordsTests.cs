using System.Linq;
using Xunit;

namespace VsockNative.Tests.Generator;

/// <summary>VSN0103: the doc comments that go into the header speak C. A C# name the header does not
/// declare is a warning at the word itself; ordinary prose, acronyms and C names are not.</summary>
public class DocCommentCWordsTests
{
    private static GeneratorHarness.Result Run(string source) =>
        GeneratorHarness.Run("enum e : le16 { VIRTIO_VSOCK_OP_RW = 5 };\nstruct s { u8 a; };", GeneratorHarness.AbiAttributes, source);

    [Fact]
    public void CSharp_names_in_a_header_doc_comment_are_warnings_at_the_word()
    {
        var r = Run("""
            using VsockNative.Interop;
            static class Helper { }
            [CStruct("vsn_stats")]
            struct Stats
            {
                /// <summary>Drops once MaxPendingResets wait.</summary>
                public ulong Dropped;
            }
            static class X
            {
                /// <summary>Reads the plain ulong counters,
                /// at most MessageQueue.Capacity of them (see <see cref="Helper"/>).</summary>
                [System.Runtime.InteropServices.UnmanagedCallersOnly(EntryPoint = "vsn_read")]
                public static int Read() => 0;
            }
            """);
        var found = r.GeneratorDiagnostics.Where(d => d.Id == "VSN0103")
            .Select(d => (Word: d.GetMessage().Split('\'')[3], Line: d.Location.GetLineSpan().StartLinePosition.Line + 1, d.Location.GetLineSpan().Path, d.Severity))
            .OrderBy(x => x.Line).ThenBy(x => x.Word).ToList();
        Assert.Equal(new[] { ("MaxPendingResets", 6), ("ulong", 11), ("Helper", 12), ("MessageQueue.Capacity", 12) },
            found.Select(f => (f.Word, f.Line)).ToArray());
        Assert.All(found, f => Assert.Equal("/src/File1.cs", f.Path));
        Assert.All(found, f => Assert.Equal(Microsoft.CodeAnalysis.DiagnosticSeverity.Warning, f.Severity));
        Assert.Contains("'vsn_stats.dropped'", r.GeneratorDiagnostics.First(d => d.GetMessage().Contains("MaxPendingResets")).GetMessage());
    }

    [Fact]
    public void Prose_acronyms_spec_names_and_C_names_are_not_warnings()
    {
        var r = Run("""
            using VsockNative.Interop;
            [CStruct("vsn_pair")] struct Pair { /// <summary>Size: at most 1 GiB.</summary>
                public uint Size; }
            static class X
            {
                /// <summary>Sends a REQUEST, then RST. Threads: any thread (like free()). Checks hdr.len
                /// and vsn_pair.size; answers VIRTIO_VSOCK_OP_RW (VSN_VIRTIO_VSOCK_OP_RW) as vsn_read() does,
                /// with 0xFFFFFFFF, SOCK_STREAM, EAGAIN and the 2021 proposal; e.g. Firecracker's.</summary>
                /// <param name="p">The pair.</param>
                [System.Runtime.InteropServices.UnmanagedCallersOnly(EntryPoint = "vsn_read")]
                public static unsafe int Read(Pair* p) => 0;
            }
            """);
        Assert.DoesNotContain(r.GeneratorDiagnostics, d => d.Id == "VSN0103");
    }
}
