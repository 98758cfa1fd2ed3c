namespace SelfSpec.Model.Architectures;

/// <summary>The gated feed-forward's activation: act(gate) * up.</summary>
public enum FeedForwardActivation
{
    /// <summary>silu(x) = x sigmoid(x) (SwiGLU: llama, qwen).</summary>
    Silu,
    /// <summary>GELU, tanh approximation (GeGLU: gemma).</summary>
    GeluTanh,
}

/// <summary>
/// How an architecture composes the shared blocks of a layer and of the head. Read from the model's metadata by
/// its architecture; the forward pass (<see cref="Transformer"/>) follows it and knows no architecture by name.
/// The defaults are llama's: pre-norm attention and feed-forward, no biases, RoPE on every layer, SwiGLU,
/// attention scaled by 1/sqrt(head size), no embedding scale, no soft-cap.
/// </summary>
internal sealed record BlockRecipe
{
    /// <summary>Q, K and V projections have (optional) bias vectors: attn_q.bias, attn_k.bias, attn_v.bias.</summary>
    public bool QkvBiases { get; init; }

    /// <summary>Q and K get a per-head RMSNorm (attn_q_norm, attn_k_norm, head size wide) before RoPE.</summary>
    public bool QueryKeyNorm { get; init; }

    /// <summary>An RMSNorm on the attention block's output before the residual add (post_attention_norm).</summary>
    public bool PostAttentionNorm { get; init; }

    /// <summary>An RMSNorm on the feed-forward block's output before the residual add (post_ffw_norm).</summary>
    public bool PostFeedForwardNorm { get; init; }

    public FeedForwardActivation Activation { get; init; } = FeedForwardActivation.Silu;

    /// <summary>The model may carry rope_freqs.weight: one divisor per rotary pair of every rotary frequency (llama3 scaling).</summary>
    public bool RopeFrequencyFactors { get; init; }

    /// <summary>
    /// LongRoPE (phi3): a model built for a context longer than this uses the long-context frequency factors
    /// (rope_factors_long), otherwise the short ones; 0 when the model has one set or none.
    /// </summary>
    public int LongRopeFromContext { get; init; }

    /// <summary>Layers that skip RoPE: layer l skips it when (l + 1) is a multiple of this; 0 when every layer rotates.</summary>
    public int NoRopeEvery { get; init; }

    /// <summary>Multiplies each embedding row (gemma: sqrt(width)); 1 for none.</summary>
    public float EmbeddingScale { get; init; } = 1f;

    /// <summary>The query-key product's scale; null for 1/sqrt(head size).</summary>
    public float? AttentionScale { get; init; }

    /// <summary>Attention scores (after scaling) become cap * tanh(score / cap) before the softmax (gemma2); 0 for none.</summary>
    public float AttentionSoftCap { get; init; }

    /// <summary>Positions a sliding-window layer's query sees (itself and the window - 1 before it); 0 when every layer sees all.</summary>
    public int SlidingWindow { get; init; }

    /// <summary>
    /// Per layer (0-based), whether it attends to the window only (gemma2: even layers; gemma3: five local to one
    /// global), read by <see cref="MetadataReader.SlidingLayers"/>; null when every layer does.
    /// </summary>
    public IReadOnlyList<bool>? SlidingLayers { get; init; }

    /// <summary>
    /// RoPE base and position multiplier of sliding-window layers when they differ from the model's (gemma3: base
    /// 10000 and no scaling on local layers, rope.freq_base and rope.scaling on global ones); null when all rotate alike.
    /// </summary>
    public (float Base, float Scale)? SlidingRope { get; init; }

    /// <summary>The head is always the token embedding, even where the file has an output.weight (gemma).</summary>
    public bool TiedOutput { get; init; }

    /// <summary>Final logits become cap * tanh(logits / cap) (gemma2); 0 for none.</summary>
    public float FinalLogitSoftCap { get; init; }

    public static readonly BlockRecipe Llama = new();

    /// <summary>The attention window of layer <paramref name="layer"/> (0-based): <see cref="SlidingWindow"/> on sliding layers, else 0 (all positions).</summary>
    public int Window(int layer) => SlidingWindow > 0 && (SlidingLayers == null || SlidingLayers[layer]) ? SlidingWindow : 0;

    /// <summary>Whether layer <paramref name="layer"/> rotates with <see cref="SlidingRope"/>'s tables rather than the model's.</summary>
    public bool UsesSlidingRope(int layer) => SlidingRope != null && Window(layer) > 0;

    /// <summary>Whether layer <paramref name="layer"/> (0-based) rotates its queries and keys.</summary>
    public bool UsesRope(int layer) => NoRopeEvery == 0 || (layer + 1) % NoRopeEvery != 0;
}
