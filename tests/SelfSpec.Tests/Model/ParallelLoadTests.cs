using SelfSpec.Gguf;
using SelfSpec.Model;
using SelfSpec.Quantization;

namespace SelfSpec.Tests.Model;

/// <summary>
/// Weights bound and packed on several threads at once (<see cref="ModelWeights.Load"/>'s workers): the same model
/// as one thread makes, and a bad file refused with the same error.
/// </summary>
public sealed class ParallelLoadTests
{
    [Theory]
    [InlineData(GgmlType.Q4_1)]
    [InlineData(GgmlType.Q4_K)]
    [InlineData(GgmlType.Q6_K)]
    [InlineData(GgmlType.Q8_0)]
    [InlineData(GgmlType.F16)]
    public void WeightsPackedOnSeveralThreadsGiveTheSameLogitsBitForBit(GgmlType type)
    {
        string dir = TinyModels.TempDirectory();
        try
        {
            string path = TinyModels.Write(dir, type, seed: 5, new TinyModels.Shape(Layers: 7));
            AssertSameLogits(path, tokens: 12);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void TheBundledModelPackedOnSeveralThreadsGivesTheSameLogitsBitForBit() => AssertSameLogits(TestModels.Bundled, tokens: 6);

    [Fact]
    public void ABadLayerIsRefusedWithTheErrorOneThreadGives()
    {
        string dir = TinyModels.TempDirectory();
        try
        {
            // Llama's reader wants attn_q, attn_k and attn_v; these layers hold one fused attn_qkv: every layer is bad,
            // and the error must name the first whichever thread meets which layer first.
            string path = TinyModels.Write(dir, GgmlType.Q4_0, seed: 6, new TinyModels.Shape(Layers: 9), extras: new TinyModels.Extras { Fused = true });
            var one = Assert.ThrowsAny<Exception>(() => new ModelHarness(path, threads: 1, loadWorkers: 1));
            Assert.Contains("blk.0.", one.Message);
            for (int i = 0; i < 5; i++)
            {
                var many = Assert.ThrowsAny<Exception>(() => new ModelHarness(path, threads: 1, loadWorkers: 4));
                Assert.Equal(one.GetType(), many.GetType());
                Assert.Equal(one.Message, many.Message);
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static void AssertSameLogits(string path, int tokens)
    {
        using var one = new ModelHarness(path, threads: 1, loadWorkers: 1);
        using var many = new ModelHarness(path, threads: 1, loadWorkers: 3);
        int[] ids = [.. Enumerable.Range(0, tokens).Select(i => (i * 37 + 5) % one.Config.VocabSize)];
        var expected = one.Run(ids, [4]).Logits;
        var actual = many.Run(ids, [4]).Logits;
        Assert.True(expected.AsSpan().SequenceEqual(actual), "logits differ between one and three load workers");
    }
}
