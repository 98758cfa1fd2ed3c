using SelfSpec.Gguf;

namespace SelfSpec.Model.Architectures;

/// <summary>
/// phi3 (Phi-3, Phi-3.5, Phi-4-mini): llama-like pre-norm blocks with NeoX RoPE (partial when
/// rope.dimension_count is below the head size), Q, K and V fused into one attn_qkv matrix (separate ones also
/// accepted), gate and up fused into ffn_up (gate rows first), and LongRoPE: per-pair frequency divisors
/// rope_factors_short, or rope_factors_long when the model runs with a context past
/// rope.scaling.original_context_length (default: the training context), as llama.cpp chooses, with LongRoPE's
/// attention factor (rope.scaling.attn_factor, read for every architecture by <see cref="MetadataReader"/>) on the
/// rotated values whichever set is used. llama.cpp runs phi3 without its sliding window, and so does this.
/// </summary>
internal sealed class Phi3 : IArchitecture
{
    public string Name => "phi3";

    public ModelConfig ReadConfig(GgufFile file)
    {
        var m = new MetadataReader(file, Name);
        int original = m.OptionalInt("rope.scaling.original_context_length") ?? m.Int("context_length", 2048);
        return m.Common(RopeLayout.NeoX, new BlockRecipe { LongRopeFromContext = original });
    }

    public LayerWeights ReadLayer(TensorReader t, int layer, ModelConfig c)
    {
        string p = $"blk.{layer}.";
        int embd = c.EmbeddingDim, ff = c.FeedForwardDim, q = c.QueryDim, kv = c.KvDim;
        bool fused = t.Has(p + "attn_qkv.weight");
        return new LayerWeights
        {
            AttentionNorm = t.Vector(p + "attn_norm.weight", embd),
            Query = fused ? t.MatrixRows(p + "attn_qkv.weight", embd, q + 2 * kv, 0, q) : t.Matrix(p + "attn_q.weight", embd, q),
            Key = fused ? t.MatrixRows(p + "attn_qkv.weight", embd, q + 2 * kv, q, kv) : t.Matrix(p + "attn_k.weight", embd, kv),
            Value = fused ? t.MatrixRows(p + "attn_qkv.weight", embd, q + 2 * kv, q + kv, kv) : t.Matrix(p + "attn_v.weight", embd, kv),
            Output = t.Matrix(p + "attn_output.weight", q, embd),
            FeedForwardNorm = t.Vector(p + "ffn_norm.weight", embd),
            Gate = t.MatrixRows(p + "ffn_up.weight", embd, 2 * ff, 0, ff),
            Up = t.MatrixRows(p + "ffn_up.weight", embd, 2 * ff, ff, ff),
            Down = t.Matrix(p + "ffn_down.weight", ff, embd),
        };
    }

    public (float[]? Short, float[]? Long) ReadRopeFactors(TensorReader tensors, ModelConfig config) =>
        (tensors.OptionalVector("rope_factors_short.weight", config.RopeDim / 2), tensors.OptionalVector("rope_factors_long.weight", config.RopeDim / 2));
}
