using System;
using System.Collections.Generic;
using System.IO;
using VsockNative.Fuzz;
using Xunit;

namespace VsockNative.Tests.Fuzz;

/// <summary>Runs alone (no other test class in parallel): after every input the harness counts the
/// process's sockets, epoll and event fds, which another test class would be opening meanwhile.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ManagedFuzzCollection
{
    public const string Name = "managed fuzz";
}

/// <summary>The managed fuzz harness in CI (fuzz/VsockNative.Fuzz; the coverage-guided run is
/// fuzz/run-managed.sh): every committed seed and finding replayed with every invariant, then a
/// seeded, deterministic mutation run from the seeds.</summary>
[Collection(ManagedFuzzCollection.Name)]
public sealed class ManagedFuzzTests
{
    private static readonly string Managed = Path.Combine(RepoPaths.Root, "fuzz", "managed");

    private static List<(string Name, byte[] Bytes)> Files(string dir)
    {
        var files = new List<(string, byte[])>();
        foreach (var f in Directory.GetFiles(Path.Combine(Managed, dir)))
            if (!f.EndsWith(".md", StringComparison.Ordinal)) files.Add((Path.GetFileName(f), File.ReadAllBytes(f)));
        files.Sort((a, b) => string.CompareOrdinal(a.Item1, b.Item1));
        return files;
    }

    [Fact]
    public void The_committed_seed_corpus_is_the_one_the_harness_writes()
    {
        var committed = Files("corpus");
        var written = new List<(string, byte[])>(Seeds.All());
        Assert.Equal(written.Count, committed.Count);
        foreach (var (name, bytes) in written)
            Assert.True(committed.Exists(c => c.Name == name && c.Bytes.AsSpan().SequenceEqual(bytes)), $"fuzz/managed/corpus/{name} is stale: VsockNative.Fuzz seeds fuzz/managed/corpus");
    }

    [Fact]
    public void Every_seed_and_every_finding_keeps_every_invariant()
    {
        using var harness = new Harness();
        var inputs = Files("corpus");
        inputs.AddRange(Files("findings"));
        foreach (var (name, bytes) in inputs)
        {
            var e = Record.Exception(() => harness.Run(bytes));
            Assert.True(e is null, $"{name}: {e}");
        }

        // the seeds do what they are there for: sessions that open connections and move data both ways
        var t = harness.Totals;
        Assert.True(t.ConnectionsOpened >= 8 && t.BytesFromGuest > 0 && t.BytesToGuest > 0 && t.UsedEntries > 100, t.ToString());
    }

    [Fact]
    public void Seeded_mutations_of_the_seeds_keep_every_invariant()
    {
        var corpus = Files("corpus").ConvertAll(f => f.Bytes);
        corpus.AddRange(Files("findings").ConvertAll(f => f.Bytes));
        var result = Mutator.Run(corpus, iterations: 3000, seed: 12);
        Assert.True(result.Failure is null, result + " input: " + Convert.ToHexString(result.Failure ?? Array.Empty<byte>()));
        Assert.Equal(3000, result.Executions);
    }
}
