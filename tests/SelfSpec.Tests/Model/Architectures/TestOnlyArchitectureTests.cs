using SelfSpec.Gguf;
using SelfSpec.Model;
using SelfSpec.Model.Architectures;
using SelfSpec.Quantization;
using Xunit.Abstractions;

namespace SelfSpec.Tests.Model.Architectures;

/// <summary>
/// The architecture seam: an architecture the library has never heard of (llama plus post-attention and
/// post-feed-forward norms and a GELU-gated feed-forward), written by GgufWriter and registered from here
/// alone, runs through the shared blocks and agrees with a plain float reference forward pass.
/// </summary>
public sealed class TestOnlyArchitectureTests(ITestOutputHelper output)
{
    /// <summary>The test-only architecture: its keys are llama's, its recipe adds post-norms and GELU.</summary>
    private sealed class PostNormGeluLlama : IArchitecture
    {
        public string Name => "test-postnorm-gelu";

        public ModelConfig ReadConfig(GgufFile file) => new MetadataReader(file, Name).Common(RopeLayout.Normal, new BlockRecipe
        {
            PostAttentionNorm = true,
            PostFeedForwardNorm = true,
            Activation = FeedForwardActivation.GeluTanh,
        });

        public LayerWeights ReadLayer(TensorReader tensors, int layer, ModelConfig config) => tensors.StandardLayer(layer, config);
    }

    [Fact]
    public void RegisteredArchitectureMatchesFloatReference()
    {
        var architecture = new PostNormGeluLlama();
        ArchitectureRegistry.Register(architecture);
        string dir = TinyModels.TempDirectory();
        try
        {
            string path = TinyModels.Write(dir, GgmlType.F32, seed: 5, architecture: architecture.Name,
                extras: new TinyModels.Extras { LayerNorms = ["post_attention_norm", "post_ffw_norm"] });
            var rng = new Random(2);
            int[] tokens = [.. Enumerable.Range(0, 12).Select(_ => rng.Next(0, 256))];
            using var harness = new ModelHarness(path, threads: 2);
            Assert.True(harness.Config.Recipe.PostAttentionNorm);
            var (_, actual) = harness.Run(tokens, [5, 1, 3]);
            var expected = new ReferenceForward(harness.File, harness.Config).Logits(tokens);
            double rel = OracleMath.RelativeL2(actual, expected);
            output.WriteLine($"{architecture.Name}: rel L2 over all {tokens.Length} positions {rel:E2}");
            // The engine keeps keys and values in half precision and rounds queries to half, as llama.cpp does.
            Assert.True(rel < 5e-3, $"relative L2 error {rel}");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
