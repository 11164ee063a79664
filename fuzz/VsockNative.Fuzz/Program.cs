using System;
using System.Collections.Generic;
using System.IO;

namespace VsockNative.Fuzz;

/// <summary>
/// afl                      run under afl-fuzz (SharpFuzz persistent mode; fuzz/run-managed.sh)
/// replay PATH...           play every file (or every file of a directory); exit 1 on the first violation
/// mutate N SEED PATH...    N inputs mutated from the files at PATH with a seeded random (deterministic)
/// seeds DIR                write the seed corpus to DIR
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length == 0) return Usage();
        switch (args[0])
        {
            case "afl":
            {
                // made inside the first run: instrumented code may run only once SharpFuzz has mapped afl's shared memory
                // afl keeps no output of the target: VSN_FUZZ_LOG names a file that gets every failure, with its input
                Harness? harness = null;
                string? log = Environment.GetEnvironmentVariable("VSN_FUZZ_LOG");
                SharpFuzz.Fuzzer.Run(stream =>
                {
                    using var ms = new MemoryStream();
                    stream.CopyTo(ms);
                    try
                    {
                        harness ??= new Harness();
                        harness.Run(ms.GetBuffer().AsSpan(0, (int)ms.Length));
                    }
                    catch (Exception e) when (log is not null)
                    {
                        File.AppendAllText(log, $"{DateTime.UtcNow:O} after {harness?.Totals.Runs} runs, input {Convert.ToHexString(ms.ToArray())}\n{e}\n\n");
                        throw;
                    }
                });
                harness?.Dispose();
                return 0;
            }
            case "replay" when args.Length >= 2:
            {
                using var harness = new Harness();
                int n = 0;
                foreach (var file in Files(args[1..]))
                {
                    try { harness.Run(File.ReadAllBytes(file)); }
                    catch (Exception e)
                    {
                        Console.Error.WriteLine($"{file}: {e}");
                        return 1;
                    }
                    n++;
                }

                Console.WriteLine($"replayed {n} inputs: every invariant held");
                return 0;
            }
            case "mutate" when args.Length >= 4:
            {
                var corpus = new List<byte[]>();
                foreach (var file in Files(args[3..])) corpus.Add(File.ReadAllBytes(file));
                var result = Mutator.Run(corpus, int.Parse(args[1]), int.Parse(args[2]), Console.Error);
                Console.WriteLine(result);
                return result.Failure is null ? 0 : 1;
            }
            case "seeds" when args.Length == 2:
                Directory.CreateDirectory(args[1]);
                foreach (var (name, bytes) in Seeds.All()) File.WriteAllBytes(Path.Combine(args[1], name), bytes);
                return 0;
            default:
                return Usage();
        }
    }

    private static int Usage()
    {
        Console.Error.WriteLine("usage: VsockNative.Fuzz afl | replay PATH... | mutate N SEED PATH... | seeds DIR");
        return 2;
    }

    private static IEnumerable<string> Files(string[] paths)
    {
        foreach (var p in paths)
        {
            if (Directory.Exists(p))
            {
                var files = Directory.GetFiles(p);
                Array.Sort(files, StringComparer.Ordinal);
                foreach (var f in files)
                    if (!Path.GetFileName(f).StartsWith('.') && !f.EndsWith(".md", StringComparison.Ordinal)) yield return f;
            }
            else if (File.Exists(p))
            {
                yield return p;
            }
        }
    }
}
