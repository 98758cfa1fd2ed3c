using SelfSpec.Quantization;

namespace SelfSpec.Tests.Model;

/// <summary>
/// architecture.md 2.1: a forward pass over n positions gives, for every position, bit-for-bit the hidden states and
/// logits of n one-position passes, whatever the chunking, the thread count and the layer split.
/// </summary>
public sealed class BatchInvarianceTests
{
    private static readonly int[][] Chunkings = [[1], [3, 1, 5, 2], [64], [7]];

    [Fact]
    public void RealModelRowsAreBitIdenticalAtAnyBatchSizeAndThreadCount()
    {
        int[] tokens = RealPromptTokens();
        (float[] Hidden, float[] Logits) reference;
        using (var one = new ModelHarness(TestModels.Bundled, threads: 1))
            reference = one.Run(tokens, [1]);
        using var two = new ModelHarness(TestModels.Bundled, threads: 2);
        foreach (var chunking in Chunkings)
            AssertBitwiseEqual(reference, two.Run(tokens, chunking), $"chunks {string.Join(",", chunking)}");
        AssertBitwiseEqual(reference, two.Run(tokens, [4], splitLayer: 11), "layer split at 11");
    }

    public static TheoryData<GgmlType> AllTypes => new(GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K,
        GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.IQ4_NL, GgmlType.IQ4_XS, GgmlType.Q3_K, GgmlType.Q2_K);

    [Theory]
    [MemberData(nameof(AllTypes))]
    public void TinyModelRowsAreBitIdentical(GgmlType type)
    {
        string dir = TinyModels.TempDirectory();
        try
        {
            string path = TinyModels.Write(dir, type, seed: 11);
            var rng = new Random(5);
            int[] tokens = Enumerable.Range(0, 40).Select(_ => rng.Next(0, 256)).ToArray();
            (float[] Hidden, float[] Logits) reference;
            using (var one = new ModelHarness(path, threads: 1))
                reference = one.Run(tokens, [1]);
            using var two = new ModelHarness(path, threads: 2);
            foreach (var chunking in Chunkings)
                AssertBitwiseEqual(reference, two.Run(tokens, chunking), $"{type} chunks {string.Join(",", chunking)}");
            AssertBitwiseEqual(reference, two.Run(tokens, [5], splitLayer: 1), $"{type} layer split");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static int[] RealPromptTokens()
    {
        using var lm = LanguageModel.Load(TestModels.Bundled, threads: 1);
        return lm.Tokenize(SpecBench.ChatMl("Explain in two sentences why the sky is blue, then translate them to French."));
    }

    private static ReadOnlySpan<int> Bits(float[] x) => System.Runtime.InteropServices.MemoryMarshal.Cast<float, int>(x);

    private static void AssertBitwiseEqual((float[] Hidden, float[] Logits) expected, (float[] Hidden, float[] Logits) actual, string what)
    {
        Assert.True(Bits(expected.Hidden).SequenceEqual(Bits(actual.Hidden)), $"hidden states differ ({what})");
        Assert.True(Bits(expected.Logits).SequenceEqual(Bits(actual.Logits)), $"logits differ ({what})");
    }
}
