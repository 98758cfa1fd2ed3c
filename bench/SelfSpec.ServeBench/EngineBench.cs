using System.Globalization;
using SelfSpec.Decoding;

namespace SelfSpec.ServeBench;

/// <summary>
/// The engine alone, no HTTP: one generation at a time on a model loaded without batching and on one loaded with
/// <c>Parallel = 4</c> (the scheduler's engine thread and shared passes, one sequence), in this process, alternating
/// run by run. Separates the scheduler's cost with one sequence from the cost of serving.
/// </summary>
internal static class EngineBench
{
    private const string Story = "Once upon a time, in a small village by the sea, there lived an old fisherman who";

    public static Task<int> RunAsync(BenchArgs a)
    {
        Console.WriteLine($"engine: {a.Reps} repetitions, {a.DecodeTokens} tokens, {a.Threads} threads, in process, alternating (only one model decodes at a time)");
        // No remembered answers: the same prompt repeats, and the plain loop's hybrid would copy its previous answer
        // (the scheduler's drafts by lookup in the sequence only).
        using var solo = LanguageModel.Load(a.Model, new ModelLoadOptions { Threads = a.Threads, RememberedAnswers = 0 });
        using var batched = LanguageModel.Load(a.Model, new ModelLoadOptions { Threads = a.Threads, Parallel = 4, RememberedAnswers = 0 });
        int[] prompt = solo.Tokenize(Story);
        foreach (string method in a.Methods)
        {
            var options = new GenerationOptions { MaxTokens = a.DecodeTokens, Method = DecodingMethodNames.Parse(method) };
            batched.Generate(prompt, options with { MaxTokens = 8 }); // the scheduler's code compiled once
            var s = new List<double>();
            var b = new List<double>();
            var sWall = new List<double>();
            var bWall = new List<double>();
            var sBytes = new List<double>();
            var bBytes = new List<double>();
            for (int r = 0; r < a.Reps; r++)
            {
                foreach (bool first in r % 2 == 0 ? new[] { true, false } : [false, true])
                {
                    var model = first ? solo : batched;
                    long bytes = GC.GetTotalAllocatedBytes(precise: true);
                    var clock = System.Diagnostics.Stopwatch.StartNew();
                    var result = model.Generate(prompt, options);
                    double wall = clock.Elapsed.TotalSeconds - result.Stats.PrefillSeconds;
                    (first ? sBytes : bBytes).Add((GC.GetTotalAllocatedBytes(precise: true) - bytes) / (double)Math.Max(1, result.Stats.GeneratedTokens));
                    (first ? s : b).Add(result.Stats.DecodeTokensPerSecond);
                    (first ? sWall : bWall).Add((result.Stats.GeneratedTokens - 1) / wall);
                }
            }
            double ratio = Percentiles.Median(b.Zip(s, (x, y) => x / y));
            double wallRatio = Percentiles.Median(bWall.Zip(sWall, (x, y) => x / y));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"engine {method}: solo {Percentiles.Median(s):F1} tok/s, scheduler (one sequence) {Percentiles.Median(b):F1} tok/s by the stats; ratio {ratio:F3}; by the wall clock after prefill {wallRatio:F3}; " +
                $"bytes allocated per token (whole generation, all threads) solo {Percentiles.Median(sBytes):F0}, scheduler {Percentiles.Median(bBytes):F0}"));
        }
        return Task.FromResult(0);
    }
}
