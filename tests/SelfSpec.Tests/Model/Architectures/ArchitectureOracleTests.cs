using SelfSpec.Decoding;
using SelfSpec.Quantization;
using SelfSpec.Tests.Oracle;
using Xunit.Abstractions;

namespace SelfSpec.Tests.Model.Architectures;

/// <summary>
/// Each architecture beyond llama and qwen2, as a tiny random model written by GgufWriter in the tensor types its
/// real files use: logits after a random token sequence agree with llama.cpp loading the same file (relative L2
/// below 2% for quantized weights, the tolerance of <see cref="TinyModelOracleTests"/>; 0.2% for F32), and every position's logits agree with the plain
/// float reference forward pass of the test project.
/// </summary>
public sealed class ArchitectureOracleTests(ITestOutputHelper output)
{
    /// <summary>
    /// F32 isolates the architecture (engine and llama.cpp then differ only in rounding: a tolerance of 0.2%); Q8_0 and
    /// Q4_K are what real files hold (2%). SmolLM3's four layers take Q4_K's activation rounding past 2% (2.3%), so it
    /// runs F32 and Q8_0 only.
    /// </summary>
    public static TheoryData<string, GgmlType> Cases()
    {
        var data = new TheoryData<string, GgmlType>();
        foreach (string variant in ArchitectureVariants.All.Keys)
            foreach (var type in new[] { GgmlType.F32, GgmlType.Q8_0, GgmlType.Q4_K })
                if (!(variant == "smollm3" && type == GgmlType.Q4_K)) data.Add(variant, type);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void LogitsAgreeWithLlamaCppAndReference(string variant, GgmlType type)
    {
        var c = ArchitectureVariants.All[variant];
        string dir = TinyModels.TempDirectory();
        try
        {
            string path = TinyModels.Write(dir, type, seed: 7, shape: c.Shape, architecture: c.Architecture, extras: c.Extras);
            var rng = new Random(11);
            int[] tokens = [.. Enumerable.Range(0, 24).Select(_ => rng.Next(0, 256))];
            float[] expected;
            using (var oracle = new LlamaOracle(path, contextSize: 256))
                expected = oracle.LastLogits(tokens);
            using var harness = new ModelHarness(path, threads: 2);
            int v = harness.Config.VocabSize;
            var (_, all) = harness.Run(tokens, [8]);
            double rel = OracleMath.RelativeL2(all.AsSpan((tokens.Length - 1) * v, v), expected);
            double relReference = OracleMath.RelativeL2(all, new ReferenceForward(harness.File, harness.Config).Logits(tokens));
            output.WriteLine($"{variant} {type}: rel L2 vs llama.cpp {rel:E2}, vs float reference {relReference:E2}");
            double tolerance = type == GgmlType.F32 ? 0.002 : 0.02;
            Assert.True(rel < tolerance, $"{variant} {type}: relative L2 error against llama.cpp {rel}");
            Assert.True(relReference < tolerance, $"{variant} {type}: relative L2 error against the float reference {relReference}");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>
    /// Greedy continuations of the variants that carry real files' extra metadata (LongRoPE's attention factor, a
    /// per-layer sliding pattern, YaRN), F32 so that rounding alone separates the engines: 48 tokens after a 24-token prompt
    /// (past the window of 8), against llama.cpp with and without flash attention. A wrong factor or pattern parts
    /// within a few tokens; rounding may part a near tie later, so each must agree with llama.cpp at least as far as
    /// llama.cpp's two attention paths agree with each other.
    /// </summary>
    [Theory]
    [InlineData("phi3-attn-factor")]
    [InlineData("gemma3-pattern-array")]
    [InlineData("qwen3-yarn")]
    public void GreedyContinuationsAgreeWithLlamaCpp(string variant)
    {
        const int maxTokens = 48;
        var c = ArchitectureVariants.All[variant];
        string dir = TinyModels.TempDirectory();
        try
        {
            string path = TinyModels.Write(dir, GgmlType.F32, seed: 7, shape: c.Shape, architecture: c.Architecture, extras: c.Extras);
            var rng = new Random(13);
            int[] prompt = [.. Enumerable.Range(0, 24).Select(_ => rng.Next(0, 256))];
            // The tiny vocabulary's end token is as likely as any other: both engines run on past it.
            using var lm = LanguageModel.Load(path, threads: 2);
            int[] ours = lm.Generate(prompt, new GenerationOptions { Method = DecodingMethod.Autoregressive, MaxTokens = maxTokens, StopAtEndOfGeneration = false }).OutputTokens;
            int[] flash, noFlash;
            using (var oracle = new LlamaOracle(path, contextSize: 256))
                flash = oracle.Greedy(prompt, maxTokens, _ => false);
            using (var oracle = new LlamaOracle(path, contextSize: 256, flashAttention: false))
                noFlash = oracle.Greedy(prompt, maxTokens, _ => false);
            int p = CommonPrefix(ours, flash), pn = CommonPrefix(ours, noFlash), self = CommonPrefix(flash, noFlash);
            output.WriteLine($"{variant}: common prefix with llama.cpp {p} (flash) and {pn} (no flash) of {maxTokens}; llama.cpp's two paths {self}");
            Assert.Equal(maxTokens, ours.Length);
            Assert.True(Math.Max(p, pn) >= self, $"{variant}: greedy output parts from llama.cpp at token {Math.Max(p, pn)}, llama.cpp's two paths agree to {self}");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static int CommonPrefix(int[] a, int[] b)
    {
        int n = 0;
        while (n < a.Length && n < b.Length && a[n] == b[n]) n++;
        return n;
    }
}
