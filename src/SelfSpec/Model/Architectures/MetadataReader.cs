using SelfSpec.Gguf;

namespace SelfSpec.Model.Architectures;

/// <summary>
/// Reads an architecture's metadata keys (prefixed with its name, e.g. <c>llama.block_count</c>) with range
/// checks, and the keys every decoder-only architecture shares into a <see cref="ModelConfig"/>.
/// </summary>
internal sealed class MetadataReader(GgufFile file, string architecture)
{
    public GgufFile File => file;

    /// <summary>A positive integer key; <paramref name="fallback"/> when absent, else an error naming the key.</summary>
    public int Int(string key, long? fallback = null)
    {
        long v = file.GetIntegerOrNull($"{architecture}.{key}") ?? fallback
            ?? throw new UnsupportedModelException($"model metadata lacks {architecture}.{key}");
        if (v <= 0 || v > int.MaxValue)
            throw new GgufFormatException($"model metadata {architecture}.{key} = {v} is out of range");
        return (int)v;
    }

    public int? OptionalInt(string key) =>
        file.GetIntegerOrNull($"{architecture}.{key}") is null ? null : Int(key);

    public float? OptionalFloat(string key) => file.GetFloatOrNull($"{architecture}.{key}");

    /// <summary>
    /// The shared hyper-parameters: width, depth, heads, head size (key_length, else width / heads), rotary
    /// dimensions, context, RoPE base and linear scaling, RMS epsilon, vocabulary.
    /// </summary>
    public ModelConfig Common(RopeLayout layout, BlockRecipe recipe)
    {
        int embd = Int("embedding_length");
        int heads = Int("attention.head_count");
        int kvHeads = Int("attention.head_count_kv", heads);
        if (heads % kvHeads != 0)
            throw new UnsupportedModelException($"{heads} heads do not divide into {kvHeads} KV heads");
        int? keyLength = OptionalInt("attention.key_length");
        if (keyLength is null && embd % heads != 0)
            throw new UnsupportedModelException($"embedding {embd} does not divide into {heads} heads");
        int headDim = keyLength ?? embd / heads;
        if (headDim % 2 != 0) throw new UnsupportedModelException($"head dimension {headDim} is odd");
        int valueLength = Int("attention.value_length", headDim);
        if (valueLength != headDim)
            throw new UnsupportedModelException($"value head size {valueLength} differs from key head size {headDim}");
        int ropeDim = Int("rope.dimension_count", headDim);
        if (ropeDim > headDim || ropeDim % 2 != 0)
            throw new UnsupportedModelException($"rope dimension {ropeDim} does not fit head dimension {headDim}");

        int vocab = (int)(file.GetIntegerOrNull($"{architecture}.vocab_size")
            ?? file.GetArrayOrNull("tokenizer.ggml.tokens")?.Count
            ?? throw new UnsupportedModelException("model metadata has no vocabulary"));

        float scale = 1f;
        string? scalingType = file.GetStringOrNull($"{architecture}.rope.scaling.type");
        float? factor = OptionalFloat("rope.scaling.factor");
        if (scalingType is "linear" && factor is > 0f) scale = 1f / factor.Value;
        else if (scalingType is not (null or "none" or "linear"))
            throw new UnsupportedModelException($"unsupported RoPE scaling '{scalingType}'");

        float eps = OptionalFloat("attention.layer_norm_rms_epsilon") ?? 1e-5f;
        float freqBase = OptionalFloat("rope.freq_base") ?? 10000f;
        if (!(eps > 0f) || !(freqBase > 0f)) throw new GgufFormatException($"model metadata has invalid RMS epsilon {eps} or RoPE base {freqBase}");

        return new ModelConfig
        {
            Architecture = architecture,
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
            RopeLayout = layout,
            RmsEpsilon = eps,
            VocabSize = vocab,
            Recipe = recipe,
        };
    }
}
