using SelfSpec.Gguf;
using SelfSpec.Model.Architectures;

namespace SelfSpec.Model;

/// <summary>How RoPE pairs the dimensions of a head: adjacent pairs (llama) or first half with second half (NeoX, qwen2).</summary>
public enum RopeLayout { Normal, NeoX }

/// <summary>
/// The normalized hyper-parameters of a transformer, read from GGUF metadata by the file's architecture
/// (keys prefixed with the architecture name, e.g. <c>llama.block_count</c>), with its block recipe.
/// </summary>
public sealed record ModelConfig
{
    public required string Architecture { get; init; }
    public required int LayerCount { get; init; }
    public required int EmbeddingDim { get; init; }
    public required int FeedForwardDim { get; init; }
    public required int HeadCount { get; init; }
    public required int KvHeadCount { get; init; }
    public required int HeadDim { get; init; }
    /// <summary>Number of leading dimensions of each head that RoPE rotates.</summary>
    public required int RopeDim { get; init; }
    public required int ContextLength { get; init; }
    public required float RopeFreqBase { get; init; }
    /// <summary>Position multiplier (1 / linear scaling factor).</summary>
    public required float RopeFreqScale { get; init; }
    /// <summary>
    /// Multiplies every rotated query and key value (rope.scaling.attn_factor: LongRoPE's attention scaling in
    /// Phi-3.5 / Phi-4-mini files), so attention scores over the rotated dimensions grow by its square, as ggml's
    /// rope applies it to cos and sin; 1 for none (architecture.md 3).
    /// </summary>
    public float RopeAttentionFactor { get; init; } = 1f;
    /// <summary>
    /// YaRN's original context (rope.scaling.original_context_length, else the training context) when the file's
    /// rope.scaling.type is yarn; 0 when the model does not use YaRN (architecture.md 3).
    /// </summary>
    public int YarnOriginalContext { get; init; }
    public required RopeLayout RopeLayout { get; init; }
    public required float RmsEpsilon { get; init; }
    public required int VocabSize { get; init; }

    public int QueryDim => HeadCount * HeadDim;
    public int KvDim => KvHeadCount * HeadDim;

    /// <summary>How the architecture composes the layer's blocks and the head.</summary>
    internal BlockRecipe Recipe { get; init; } = BlockRecipe.Llama;

    /// <summary>The architectures that load (general.architecture values).</summary>
    public static IReadOnlyList<string> SupportedArchitectures => ArchitectureRegistry.Names;

    /// <summary>Reads the hyper-parameters through the file's architecture (<see cref="ArchitectureRegistry"/>).</summary>
    public static ModelConfig FromGguf(GgufFile file)
    {
        string arch = file.GetStringOrNull("general.architecture")
            ?? throw new UnsupportedModelException("model metadata lacks general.architecture");
        return ArchitectureRegistry.Find(arch).ReadConfig(file);
    }
}
