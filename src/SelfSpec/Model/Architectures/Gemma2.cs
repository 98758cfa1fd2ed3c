using SelfSpec.Gguf;

namespace SelfSpec.Model.Architectures;

/// <summary>
/// gemma2 (Gemma 2): embeddings scaled by sqrt(width), NeoX RoPE, norms before and after both blocks
/// (post_attention_norm, post_ffw_norm), a GELU-gated feed-forward, attention scores and final logits soft-capped
/// (attn_logit_softcapping, default 50; final_logit_softcapping, default 30), sliding-window attention on even
/// layers (attention.sliding_window, default 4096; attention.sliding_window_pattern: a period, default 2, or one
/// bool per layer), rotating like the global layers unless the file names rope.freq_base_swa. The head is
/// always the token embedding. Queries are scaled by 1/sqrt(head size), except the 46-layer 27B model's
/// 1/sqrt(width / heads), as llama.cpp does.
/// </summary>
internal sealed class Gemma2 : IArchitecture
{
    public string Name => "gemma2";

    public ModelConfig ReadConfig(GgufFile file)
    {
        var m = new MetadataReader(file, Name);
        int embd = m.Int("embedding_length"), layers = m.Int("block_count"), heads = m.Int("attention.head_count");
        int headDim = m.Int("attention.key_length", embd / heads);
        var config = m.Common(RopeLayout.NeoX, new BlockRecipe
        {
            PostAttentionNorm = true,
            PostFeedForwardNorm = true,
            Activation = FeedForwardActivation.GeluTanh,
            EmbeddingScale = MathF.Sqrt(embd),
            AttentionScale = 1f / MathF.Sqrt(layers == 46 ? embd / heads : headDim),
            AttentionSoftCap = m.OptionalFloat("attn_logit_softcapping") ?? 50f,
            FinalLogitSoftCap = m.OptionalFloat("final_logit_softcapping") ?? 30f,
            SlidingWindow = m.Int("attention.sliding_window", 4096),
            SlidingLayers = m.SlidingLayers(layers, 2),
            TiedOutput = true,
        });
        // Sliding layers keep the model's RoPE scaling with their own base, as llama.cpp's gemma2 does.
        return m.OptionalPositiveFloat("rope.freq_base_swa") is float swaBase
            ? config with { Recipe = config.Recipe with { SlidingRope = (swaBase, config.RopeFreqScale) } }
            : config;
    }

    public LayerWeights ReadLayer(TensorReader tensors, int layer, ModelConfig config) => tensors.StandardLayer(layer, config);
}
