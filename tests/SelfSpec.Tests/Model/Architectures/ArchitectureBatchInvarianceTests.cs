using SelfSpec.Quantization;

namespace SelfSpec.Tests.Model.Architectures;

/// <summary>
/// Batch invariance for every architecture's blocks (Q/K norms, rope-less layers, frequency factors, post-norms,
/// GELU, soft-caps, sliding windows): a forward pass over n positions gives bit-for-bit the hidden states and
/// logits of one-position passes, whatever the chunking and thread count.
/// </summary>
public sealed class ArchitectureBatchInvarianceTests
{
    private static readonly int[][] Chunkings = [[3, 1, 5, 2], [64], [7]];

    public static TheoryData<string> Variants() => [.. ArchitectureVariants.All.Keys];

    [Theory]
    [MemberData(nameof(Variants))]
    public void RowsAreBitIdentical(string variant)
    {
        var c = ArchitectureVariants.All[variant];
        string dir = TinyModels.TempDirectory();
        try
        {
            string path = TinyModels.Write(dir, GgmlType.Q8_0, seed: 13, shape: c.Shape, architecture: c.Architecture, extras: c.Extras);
            var rng = new Random(6);
            int[] tokens = [.. Enumerable.Range(0, 40).Select(_ => rng.Next(0, 256))];
            (float[] Hidden, float[] Logits) reference;
            using (var one = new ModelHarness(path, threads: 1))
                reference = one.Run(tokens, [1]);
            using var two = new ModelHarness(path, threads: 2);
            foreach (var chunking in Chunkings)
            {
                var actual = two.Run(tokens, chunking);
                string what = $"{variant}, chunks {string.Join(",", chunking)}";
                Assert.True(Bits(reference.Hidden).SequenceEqual(Bits(actual.Hidden)), $"hidden states differ ({what})");
                Assert.True(Bits(reference.Logits).SequenceEqual(Bits(actual.Logits)), $"logits differ ({what})");
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static ReadOnlySpan<int> Bits(float[] x) => System.Runtime.InteropServices.MemoryMarshal.Cast<float, int>(x);
}
