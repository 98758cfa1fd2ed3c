using SelfSpec.Model;
using SelfSpec.Quantization;

namespace SelfSpec.Tests.Model.Architectures;

/// <summary>
/// No allocation on the per-token path, whatever the recipe: after a warm-up, a one-row forward pass through every
/// layer and the final head allocates nothing on the calling thread, for every architecture's tiny model.
/// </summary>
public sealed class ForwardAllocationTests
{
    public static TheoryData<string> Variants() => [.. ArchitectureVariants.All.Keys];

    [Theory]
    [MemberData(nameof(Variants))]
    public void OneRowForwardDoesNotAllocate(string variant)
    {
        var c = ArchitectureVariants.All[variant];
        string dir = TinyModels.TempDirectory();
        try
        {
            string path = TinyModels.Write(dir, GgmlType.Q8_0, seed: 17, shape: c.Shape, architecture: c.Architecture, extras: c.Extras);
            using var harness = new ModelHarness(path, threads: 1);
            var t = harness.Transformer;
            var config = harness.Config;
            var cache = new KvCache(config, 16);
            var hidden = new float[config.EmbeddingDim];
            var logits = new float[t.MaxBatch * config.VocabSize];
            int[] position = [0];
            int[] token = [5];
            void Step(int pos)
            {
                position[0] = pos;
                t.Embed(token, hidden);
                t.Forward(position, hidden, 0, config.LayerCount, cache);
                cache.Commit(pos + 1);
                t.FinalLogits(hidden, 1, logits);
            }
            for (int p = 0; p < 4; p++) Step(p);
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int p = 4; p < 12; p++) Step(p);
            Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
