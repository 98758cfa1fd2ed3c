using SelfSpec.Tests.Oracle;
using Xunit.Abstractions;

namespace SelfSpec.Tests.Model;

/// <summary>Logits of the real model against llama.cpp's on the same file and the same token ids.</summary>
public sealed class OracleLogitsTests(ITestOutputHelper output)
{
    private static IEnumerable<string> Prompts()
    {
        string[] raw =
        [
            "The capital of France is",
            "Once upon a time, in a small village by the sea,",
            "def fibonacci(n):\n    if n < 2:\n        return n\n",
            "1, 1, 2, 3, 5, 8, 13,",
            "Translate to German: The weather is nice today.",
            "  Leading spaces and\ttabs\n\nand blank lines",
            "Émile Zola écrivit «Germinal» en 1885. 東京は日本の首都です。",
            "<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n",
            "The quick brown fox jumps over the lazy dog. The quick brown fox",
            "Q: What is 17 * 23?\nA:",
        ];
        var questions = SpecBench.Load();
        return raw.Concat(questions.Where((_, i) => i % 24 == 5).Take(10).Select(q => SpecBench.ChatMl(q.Turns[0])));
    }

    private static (double MaxAbs, double RelL2) Compare(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected)
    {
        double maxAbs = 0, diff2 = 0, ref2 = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double d = actual[i] - expected[i];
            maxAbs = Math.Max(maxAbs, Math.Abs(d));
            diff2 += d * d;
            ref2 += (double)expected[i] * expected[i];
        }
        return (maxAbs, Math.Sqrt(diff2 / ref2));
    }

    /// <summary>
    /// Top-1 must agree on every prompt except a near-tie: where llama.cpp's own margin between its choice and ours is
    /// smaller than its two attention paths' largest difference on that prompt, the order of the two is below the noise
    /// llama.cpp itself has (at most one such prompt). The size of the differences is judged against llama.cpp's own:
    /// its flash-attention and plain attention paths, on the same file, differ from each other too.
    /// </summary>
    [Fact]
    public void RealModelLogitsMatchLlamaCpp()
    {
        using var oracle = new LlamaOracle(TestModels.Bundled, contextSize: 2048);
        using var noFlash = new LlamaOracle(TestModels.Bundled, contextSize: 2048, flashAttention: false);
        using var harness = new ModelHarness(TestModels.Bundled, threads: 2);
        int v = harness.Config.VocabSize;
        double worstAbs = 0, worstRel = 0, worstSelf = 0, sumRel = 0, sumSelf = 0;
        int prompts = 0, top1Same = 0, nearTies = 0;
        foreach (string prompt in Prompts())
        {
            int[] tokens = oracle.Tokenize(prompt, addSpecial: true, parseSpecial: true);
            float[] expected = oracle.LastLogits(tokens);
            float[] other = noFlash.LastLogits(tokens);
            var (_, all) = harness.Run(tokens, [64]);
            var actual = all.AsSpan((tokens.Length - 1) * v, v);
            var (maxAbs, rel) = Compare(actual, expected);
            var (selfAbs, self) = Compare(other, expected);
            int topOurs = SelfSpec.Sampling.Sampler.ArgMax(actual), topTheirs = SelfSpec.Sampling.Sampler.ArgMax(expected);
            output.WriteLine($"{tokens.Length,5} tokens  max|diff| {maxAbs:F4}  rel L2 {rel:E2}  (llama.cpp flash vs plain attention: {self:E2})  top-1 {topOurs}/{topTheirs}");
            worstAbs = Math.Max(worstAbs, maxAbs);
            worstRel = Math.Max(worstRel, rel);
            worstSelf = Math.Max(worstSelf, self);
            sumRel += rel;
            sumSelf += self;
            prompts++;
            if (topOurs == topTheirs) top1Same++;
            else
            {
                double margin = expected[topTheirs] - expected[topOurs];
                output.WriteLine($"      top-1 differs: llama.cpp's margin {margin:F3}, its own paths' max|diff| {selfAbs:F3}");
                Assert.True(margin < selfAbs, $"top-1 {topOurs} against llama.cpp's {topTheirs} with a margin {margin:F3} beyond llama.cpp's own spread {selfAbs:F3}");
                nearTies++;
            }
        }
        output.WriteLine($"{prompts} prompts: worst max|diff| {worstAbs:F4}, rel L2 worst {worstRel:E2} mean {sumRel / prompts:E2}; " +
            $"llama.cpp against itself: worst {worstSelf:E2} mean {sumSelf / prompts:E2}; top-1 identical {top1Same}/{prompts}");
        Assert.Equal(20, prompts);
        Assert.True(nearTies <= 1, $"{nearTies} near-ties: top-1 identical only {top1Same}/{prompts}");
        // Measured on these 20 prompts: worst 0.145 against llama.cpp's own 0.108 (1.34x), mean 0.0319 against 0.0278
        // (1.15x). The bounds leave a fifth of headroom over those ratios and no absolute floor.
        Assert.True(worstRel <= 1.6 * worstSelf, $"worst relative L2 error {worstRel:E3} is beyond 1.6x llama.cpp's own spread {worstSelf:E3}");
        Assert.True(sumRel <= 1.4 * sumSelf, $"mean relative L2 error {sumRel / prompts:E3} is beyond 1.4x llama.cpp's own {sumSelf / prompts:E3}");
    }
}
