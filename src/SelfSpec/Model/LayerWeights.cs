namespace SelfSpec.Model;

/// <summary>One transformer block's tensors. Biases exist only for qwen2 (q, k, v).</summary>
internal sealed class LayerWeights
{
    public required float[] AttentionNorm { get; init; }      // (embd)
    public required WeightMatrix Query { get; init; }         // (embd -> heads * headDim)
    public required WeightMatrix Key { get; init; }           // (embd -> kvHeads * headDim)
    public required WeightMatrix Value { get; init; }         // (embd -> kvHeads * headDim)
    public required WeightMatrix Output { get; init; }        // (heads * headDim -> embd)
    public float[]? QueryBias { get; init; }
    public float[]? KeyBias { get; init; }
    public float[]? ValueBias { get; init; }
    public required float[] FeedForwardNorm { get; init; }    // (embd)
    public required WeightMatrix Gate { get; init; }          // (embd -> ff)
    public required WeightMatrix Up { get; init; }            // (embd -> ff)
    public required WeightMatrix Down { get; init; }          // (ff -> embd)
}
