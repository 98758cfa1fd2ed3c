namespace SelfSpec.Model;

/// <summary>
/// One transformer block's tensors. The optional ones exist when the architecture's recipe uses them
/// (<see cref="Architectures.BlockRecipe"/>); the forward pass applies what is present.
/// </summary>
internal sealed class LayerWeights
{
    public required float[] AttentionNorm { get; init; }      // (embd)
    public required WeightMatrix Query { get; init; }         // (embd -> heads * headDim)
    public required WeightMatrix Key { get; init; }           // (embd -> kvHeads * headDim)
    public required WeightMatrix Value { get; init; }         // (embd -> kvHeads * headDim)
    public required WeightMatrix Output { get; init; }        // (heads * headDim -> embd)
    public float[]? QueryBias { get; init; }                  // (heads * headDim)
    public float[]? KeyBias { get; init; }                    // (kvHeads * headDim)
    public float[]? ValueBias { get; init; }                  // (kvHeads * headDim)
    public float[]? QueryNorm { get; init; }                  // (headDim) shared by every query head
    public float[]? KeyNorm { get; init; }                    // (headDim) shared by every key head
    public float[]? PostAttentionNorm { get; init; }          // (embd)
    public required float[] FeedForwardNorm { get; init; }    // (embd)
    public required WeightMatrix Gate { get; init; }          // (embd -> ff)
    public required WeightMatrix Up { get; init; }            // (embd -> ff)
    public required WeightMatrix Down { get; init; }          // (ff -> embd)
    public float[]? PostFeedForwardNorm { get; init; }        // (embd)

    /// <summary>Every matrix of the block (for sizing scratch and counting packed bytes).</summary>
    public IEnumerable<WeightMatrix> Matrices => [Query, Key, Value, Output, Gate, Up, Down];
}
