using SelfSpec.Gguf;

namespace SelfSpec.Model.Architectures;

/// <summary>
/// gemma3 (Gemma 3 text): gemma2's blocks without attention soft-capping, plus per-head Q and K norms. When the
/// file gives attention.sliding_window, the sliding layers (attention.sliding_window_pattern: a period, default 6,
/// so five local to one global, or one bool per layer) attend to a window and rotate with their own RoPE
/// (rope.freq_base_swa, default 10000, unscaled); the global layers use rope.freq_base and the file's RoPE scaling.
/// The final soft-cap applies only when the file names one. Queries are scaled by 1/sqrt(head size), except the
/// 62-layer 27B model's 1/sqrt(width / heads), as llama.cpp does.
/// </summary>
internal sealed class Gemma3 : IArchitecture
{
    public string Name => "gemma3";

    public ModelConfig ReadConfig(GgufFile file)
    {
        var m = new MetadataReader(file, Name);
        int embd = m.Int("embedding_length"), layers = m.Int("block_count"), heads = m.Int("attention.head_count");
        int headDim = m.Int("attention.key_length", embd / heads);
        int window = m.OptionalCount("attention.sliding_window") ?? 0;   // 0: no sliding layers, as llama.cpp reads it
        return m.Common(RopeLayout.NeoX, new BlockRecipe
        {
            QueryKeyNorm = true,
            PostAttentionNorm = true,
            PostFeedForwardNorm = true,
            Activation = FeedForwardActivation.GeluTanh,
            EmbeddingScale = MathF.Sqrt(embd),
            AttentionScale = 1f / MathF.Sqrt(layers == 62 ? embd / heads : headDim),
            FinalLogitSoftCap = m.OptionalFloat("final_logit_softcapping") ?? 0f,
            SlidingWindow = window,
            SlidingLayers = window > 0 ? m.SlidingLayers(layers, 6) : null,
            SlidingRope = window > 0 ? (m.OptionalPositiveFloat("rope.freq_base_swa") ?? 10000f, 1f) : null,
        });
    }

    public LayerWeights ReadLayer(TensorReader tensors, int layer, ModelConfig config) => tensors.StandardLayer(layer, config);
}
