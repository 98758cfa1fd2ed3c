using SelfSpec.Tests.Oracle;
using SelfSpec.Tests.Model;
using Xunit.Abstractions;
namespace SelfSpec.Tests;
public sealed class Scratch(ITestOutputHelper output)
{
    [Fact]
    public void Experiment()
    {
        using var oracle = new LlamaOracle(TestModels.Bundled, contextSize: 512);
        using var harness = new ModelHarness(TestModels.Bundled, threads: 2);
        int v = harness.Config.VocabSize;
        foreach (string prompt in new[] { "The capital of France is", "The capital", "The cat", "the the", "The", "Hello world, this is a longer prompt about the sea and the sky." })
        {
            int[] tokens = oracle.Tokenize(prompt, true, true);
            float[] expected = oracle.LastLogits(tokens);
            var (_, all) = harness.Run(tokens, [int.Parse(Environment.GetEnvironmentVariable("XCHUNK") ?? "64")]);
            var actual = all.AsSpan((tokens.Length - 1) * v, v);
            double d2 = 0, r2 = 0;
            for (int i = 0; i < v; i++) { double d = actual[i] - expected[i]; d2 += d * d; r2 += expected[i] * (double)expected[i]; }
            output.WriteLine($"{tokens.Length} rel {Math.Sqrt(d2 / r2):E3}  ours[0..3] {actual[0]:F3} {actual[1]:F3} {actual[2]:F3} theirs {expected[0]:F3} {expected[1]:F3} {expected[2]:F3}");
        }
    }
}
