using SelfSpec.Gguf;

namespace SelfSpec.Model;

/// <summary>How RoPE pairs the dimensions of a head: adjacent pairs (llama) or first half with second half (NeoX, qwen2).</summary>
public enum RopeLayout { Normal, NeoX }

/// <summary>
/// The normalized hyper-parameters of a transformer, read from GGUF metadata (keys prefixed with the
/// architecture name, e.g. <c>llama.block_count</c>).
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
    public required RopeLayout RopeLayout { get; init; }
    public required float RmsEpsilon { get; init; }
    public required int VocabSize { get; init; }

    public int QueryDim => HeadCount * HeadDim;
    public int KvDim => KvHeadCount * HeadDim;

    public static readonly IReadOnlyList<string> SupportedArchitectures = ["llama", "qwen2"];

    public static ModelConfig FromGguf(GgufFile file)
    {
        string arch = file.GetStringOrNull("general.architecture")
            ?? throw new UnsupportedModelException("model metadata lacks general.architecture");
        if (!SupportedArchitectures.Contains(arch))
            throw new UnsupportedModelException($"unsupported architecture '{arch}' (supported: {string.Join(", ", SupportedArchitectures)})");

        int Int(string key, long? fallback = null)
        {
            long v = file.GetIntegerOrNull($"{arch}.{key}") ?? fallback
                ?? throw new UnsupportedModelException($"model metadata lacks {arch}.{key}");
            if (v <= 0 || v > int.MaxValue)
                throw new GgufFormatException($"model metadata {arch}.{key} = {v} is out of range");
            return (int)v;
        }

        int embd = Int("embedding_length");
        int heads = Int("attention.head_count");
        int kvHeads = Int("attention.head_count_kv", heads);
        if (embd % heads != 0 || heads % kvHeads != 0)
            throw new UnsupportedModelException($"embedding {embd}, {heads} heads, {kvHeads} KV heads do not divide evenly");
        int headDim = Int("attention.key_length", embd / heads);
        if (headDim % 2 != 0) throw new UnsupportedModelException($"head dimension {headDim} is odd");
        int ropeDim = Int("rope.dimension_count", headDim);
        if (ropeDim > headDim || ropeDim % 2 != 0)
            throw new UnsupportedModelException($"rope dimension {ropeDim} does not fit head dimension {headDim}");

        int vocab = (int)(file.GetIntegerOrNull($"{arch}.vocab_size")
            ?? file.GetArrayOrNull("tokenizer.ggml.tokens")?.Count
            ?? throw new UnsupportedModelException("model metadata has no vocabulary"));

        float scale = 1f;
        string? scalingType = file.GetStringOrNull($"{arch}.rope.scaling.type");
        float? factor = file.GetFloatOrNull($"{arch}.rope.scaling.factor");
        if (scalingType is "linear" && factor is > 0f) scale = 1f / factor.Value;
        else if (scalingType is not (null or "none" or "linear"))
            throw new UnsupportedModelException($"unsupported RoPE scaling '{scalingType}'");

        float eps = file.GetFloatOrNull($"{arch}.attention.layer_norm_rms_epsilon") ?? 1e-5f;
        float freqBase = file.GetFloatOrNull($"{arch}.rope.freq_base") ?? 10000f;
        if (!(eps > 0f) || !(freqBase > 0f)) throw new GgufFormatException($"model metadata has invalid RMS epsilon {eps} or RoPE base {freqBase}");

        return new ModelConfig
        {
            Architecture = arch,
            LayerCount = Int("block_count"),
            EmbeddingDim = embd,
            FeedForwardDim = Int("feed_forward_length"),
            HeadCount = heads,
            KvHeadCount = kvHeads,
            HeadDim = headDim,
            RopeDim = ropeDim,
            ContextLength = Int("context_length", 2048),
            RopeFreqBase = freqBase,
            RopeFreqScale = scale,
            RopeLayout = arch == "qwen2" ? RopeLayout.NeoX : RopeLayout.Normal,
            RmsEpsilon = eps,
            VocabSize = vocab,
        };
    }
}
