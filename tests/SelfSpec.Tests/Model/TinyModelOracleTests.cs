using SelfSpec.Quantization;
using SelfSpec.Tests.Oracle;
using Xunit.Abstractions;

namespace SelfSpec.Tests.Model;

/// <summary>
/// Tiny random models written in every supported tensor type (and both architectures): logits after a
/// random token sequence agree with llama.cpp loading the same file.
/// Tolerance: relative L2 error of the logit vector below 2% (llama.cpp quantizes activations the same way
/// but accumulates in another order, keeps an F16 KV cache and rounds attention probabilities).
/// </summary>
public sealed class TinyModelOracleTests(ITestOutputHelper output)
{
    public static TheoryData<GgmlType, string> Cases()
    {
        var data = new TheoryData<GgmlType, string>();
        foreach (var t in new[] { GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K,
            GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.IQ4_NL, GgmlType.IQ4_XS, GgmlType.Q3_K, GgmlType.Q2_K })
            data.Add(t, "llama");
        data.Add(GgmlType.Q8_0, "qwen2");
        data.Add(GgmlType.Q4_K, "qwen2");
        data.Add(GgmlType.Q5_0, "qwen2");
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void LogitsAgreeWithLlamaCpp(GgmlType type, string architecture)
    {
        string dir = TinyModels.TempDirectory();
        try
        {
            string path = TinyModels.Write(dir, type, seed: 3, architecture: architecture);
            var rng = new Random(9);
            int[] tokens = Enumerable.Range(0, 24).Select(_ => rng.Next(0, 256)).ToArray();
            float[] expected;
            using (var oracle = new LlamaOracle(path, contextSize: 256))
                expected = oracle.LastLogits(tokens);
            using var harness = new ModelHarness(path, threads: 2);
            int v = harness.Config.VocabSize;
            var (_, all) = harness.Run(tokens, [8]);
            var actual = all.AsSpan((tokens.Length - 1) * v, v);
            Assert.Equal(expected.Length, v);
            double diff2 = 0, ref2 = 0, maxAbs = 0;
            for (int i = 0; i < v; i++)
            {
                double d = actual[i] - expected[i];
                diff2 += d * d;
                ref2 += (double)expected[i] * expected[i];
                maxAbs = Math.Max(maxAbs, Math.Abs(d));
            }
            double rel = Math.Sqrt(diff2 / ref2);
            output.WriteLine($"{architecture} {type}: max|diff| {maxAbs:E2}, rel L2 {rel:E2}");
            Assert.True(rel < 0.02, $"{architecture} {type}: relative L2 error {rel}");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
