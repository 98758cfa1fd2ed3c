using SelfSpec.Model;
using SelfSpec.Quantization;
using SelfSpec.Tests.Model;

namespace SelfSpec.Tests.Model;

/// <summary>
/// architecture.md 2.1 across sequences: in a pass over rows of several sequences (each row with its own sequence's
/// cache and position), every row's hidden state and logits are bit-for-bit those of its sequence run alone, whichever
/// other sequences share the pass, how many rows each brings and in what order the sequences sit.
/// </summary>
public sealed class MultiSequenceBatchInvarianceTests
{
    [Fact]
    public void RealModelRowsDoNotDependOnOtherSequencesInThePass()
    {
        using var lm = LanguageModel.Load(TestModels.Bundled, threads: 1);
        string[] questions =
        [
            "Explain in two sentences why the sky is blue.",
            "List three prime numbers.",
            "Write a haiku about autumn leaves falling on a quiet river at dusk, then explain it.",
            "Hi",
            "What is the capital of France? Answer in one word.",
        ];
        int[][] sequences = questions.Select(q => lm.Tokenize(SpecBench.ChatMl(q))).ToArray();
        using var one = new ModelHarness(TestModels.Bundled, threads: 1);
        var reference = sequences.Select(s => one.Run(s, [1])).ToArray();
        using var two = new ModelHarness(TestModels.Bundled, threads: 2);
        foreach (int seed in new[] { 1, 2 })
        {
            var mixed = RunMixed(two, sequences, new Random(seed), maxRowsPerSequence: seed == 1 ? 3 : 9);
            for (int s = 0; s < sequences.Length; s++)
                AssertBitwiseEqual(reference[s], mixed[s], $"sequence {s}, split seed {seed}");
        }
    }

    public static TheoryData<GgmlType> Types => new(GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q8_0, GgmlType.Q4_K, GgmlType.F16);

    [Theory]
    [MemberData(nameof(Types))]
    public void TinyModelRowsDoNotDependOnOtherSequencesInThePass(GgmlType type)
    {
        string dir = TinyModels.TempDirectory();
        try
        {
            string path = TinyModels.Write(dir, type, seed: 23);
            var rng = new Random(7);
            using var one = new ModelHarness(path, threads: 1);
            using var two = new ModelHarness(path, threads: 2);
            // 1 to 8 sequences of mixed lengths (1 to 60 tokens), split into passes in several random ways.
            foreach (int count in new[] { 1, 2, 3, 5, 8 })
            {
                int[][] sequences = Enumerable.Range(0, count)
                    .Select(_ => Enumerable.Range(0, rng.Next(1, 61)).Select(_ => rng.Next(0, 256)).ToArray()).ToArray();
                var reference = sequences.Select(s => one.Run(s, [1])).ToArray();
                for (int split = 0; split < 3; split++)
                {
                    var mixed = RunMixed(two, sequences, new Random(100 * count + split), maxRowsPerSequence: 1 + split * 4);
                    for (int s = 0; s < count; s++)
                        AssertBitwiseEqual(reference[s], mixed[s], $"{type}: sequence {s} of {count}, split {split}");
                }
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void APassRejectsMismatchedCaches()
    {
        string dir = TinyModels.TempDirectory();
        try
        {
            using var h = new ModelHarness(TinyModels.Write(dir, GgmlType.Q8_0, seed: 3), threads: 1);
            var cache = new KvCache(h.Config, 8);
            var hidden = new float[2 * h.Config.EmbeddingDim];
            Assert.Throws<ArgumentException>(() => h.Transformer.Forward([0, 1], [cache], hidden, 0, h.Config.LayerCount));
            Assert.Throws<ArgumentNullException>(() => h.Transformer.Forward([0, 1], [cache, null!], hidden, 0, h.Config.LayerCount));
            Assert.Throws<InvalidRequestException>(() => h.Transformer.Forward([0, 8], [cache, cache], hidden, 0, h.Config.LayerCount));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>
    /// Runs every sequence through all layers in shared passes: each pass takes 0 to maxRows next rows of every
    /// unfinished sequence (at least one row in all), the sequences in a random order. Returns each sequence's hidden
    /// states (n x embd) and logits (n x vocab).
    /// </summary>
    internal static (float[] Hidden, float[] Logits)[] RunMixed(ModelHarness h, int[][] sequences, Random rng, int maxRowsPerSequence)
    {
        var t = h.Transformer;
        int d = h.Config.EmbeddingDim, v = h.Config.VocabSize, layers = h.Config.LayerCount;
        var caches = sequences.Select(s => new KvCache(h.Config, s.Length + 1)).ToArray();
        var results = sequences.Select(s => (Hidden: new float[s.Length * d], Logits: new float[s.Length * v])).ToArray();
        var done = new int[sequences.Length];
        var hidden = new float[t.MaxBatch * d];
        var logits = new float[t.MaxBatch * v];
        while (done.Where((n, s) => n < sequences[s].Length).Any())
        {
            var positions = new List<int>();
            var rowCaches = new List<KvCache>();
            var owners = new List<int>();
            foreach (int s in Enumerable.Range(0, sequences.Length).OrderBy(_ => rng.Next()))
            {
                int take = Math.Min(rng.Next(0, maxRowsPerSequence + 1), sequences[s].Length - done[s]);
                take = Math.Min(take, t.MaxBatch - positions.Count);
                for (int i = 0; i < take; i++)
                {
                    t.Embed(sequences[s].AsSpan(done[s] + i, 1), hidden.AsSpan(positions.Count * d, d));
                    positions.Add(done[s] + i);
                    rowCaches.Add(caches[s]);
                    owners.Add(s);
                }
            }
            if (positions.Count == 0) continue;
            int n = positions.Count;
            t.Forward(positions.ToArray(), rowCaches.ToArray(), hidden.AsSpan(0, n * d), 0, layers);
            t.FinalLogits(hidden, n, logits);
            for (int r = 0; r < n; r++)
            {
                int s = owners[r], p = positions[r];
                hidden.AsSpan(r * d, d).CopyTo(results[s].Hidden.AsSpan(p * d));
                logits.AsSpan(r * v, v).CopyTo(results[s].Logits.AsSpan(p * v));
            }
            foreach (int s in owners.Distinct())
            {
                done[s] = positions.Where((_, r) => owners[r] == s).Max() + 1;
                caches[s].Commit(done[s]);
            }
        }
        return results;
    }

    private static ReadOnlySpan<int> Bits(float[] x) => System.Runtime.InteropServices.MemoryMarshal.Cast<float, int>(x);

    private static void AssertBitwiseEqual((float[] Hidden, float[] Logits) expected, (float[] Hidden, float[] Logits) actual, string what)
    {
        Assert.True(Bits(expected.Hidden).SequenceEqual(Bits(actual.Hidden)), $"hidden states differ ({what})");
        Assert.True(Bits(expected.Logits).SequenceEqual(Bits(actual.Logits)), $"logits differ ({what})");
    }
}
