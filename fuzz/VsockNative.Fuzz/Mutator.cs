using System;
using System.Collections.Generic;
using System.IO;

namespace VsockNative.Fuzz;

/// <summary>What a seeded mutation run did: how many inputs, and the first that broke an invariant.</summary>
public sealed record MutationResult(int Executions, TimeSpan Duration, byte[]? Failure, string? Why)
{
    public override string ToString() => Failure is null
        ? $"{Executions} mutated inputs in {Duration.TotalSeconds:F1} s: every invariant held"
        : $"input {Executions} broke an invariant: {Why}";
}

/// <summary>
/// A deterministic stand-in for the coverage-guided run where AFL is not wanted (CI): byte flips,
/// random bytes, inserted and deleted runs, splices of two corpus inputs, all from a seeded random,
/// so a failure reproduces from (seed, iteration) alone.
/// </summary>
public static class Mutator
{
    public static MutationResult Run(IReadOnlyList<byte[]> corpus, int iterations, int seed, TextWriter? log = null)
    {
        if (corpus.Count == 0) throw new ArgumentException("empty corpus", nameof(corpus));
        var random = new Random(seed);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        using var harness = new Harness();
        for (int i = 0; i < iterations; i++)
        {
            byte[] input = Mutate(random, corpus[random.Next(corpus.Count)], corpus[random.Next(corpus.Count)]);
            try
            {
                harness.Run(input);
            }
            catch (Exception e)
            {
                log?.WriteLine($"iteration {i} (seed {seed}): {e}");
                if (Environment.GetEnvironmentVariable("VSN_FUZZ_SAVE") is { } save) File.WriteAllBytes(save, input);
                return new MutationResult(i, watch.Elapsed, input, e.Message);
            }
        }

        return new MutationResult(iterations, watch.Elapsed, null, null);
    }

    public static byte[] Mutate(Random random, byte[] a, byte[] b)
    {
        var data = new List<byte>(a);
        int rounds = 1 + random.Next(8);
        for (int k = 0; k < rounds; k++)
        {
            int at = data.Count == 0 ? 0 : random.Next(data.Count);
            switch (random.Next(6))
            {
                case 0 when data.Count > 0: data[at] ^= (byte)(1 << random.Next(8)); break;
                case 1 when data.Count > 0: data[at] = (byte)random.Next(256); break;
                case 2: data.InsertRange(at, RandomBytes(random, 1 + random.Next(16))); break;
                case 3 when data.Count > 0: data.RemoveRange(at, Math.Min(data.Count - at, 1 + random.Next(16))); break;
                case 4 when b.Length > 0:
                {
                    int from = random.Next(b.Length);
                    data.InsertRange(at, new ArraySegment<byte>(b, from, Math.Min(b.Length - from, 1 + random.Next(64))));
                    break;
                }
                case 5 when data.Count > 0: data[at] = Interesting[random.Next(Interesting.Length)]; break;
            }
        }

        return data.ToArray();
    }

    private static readonly byte[] Interesting = { 0, 1, 0x7f, 0x80, 0xef, 0xf0, 0xff };

    private static byte[] RandomBytes(Random random, int n)
    {
        var bytes = new byte[n];
        random.NextBytes(bytes);
        return bytes;
    }
}
