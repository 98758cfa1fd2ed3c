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

    /// <summary>A count that may be 0 (a feature turned off); null when absent, else an error naming the key when negative.</summary>
    public int? OptionalCount(string key) => file.GetIntegerOrNull($"{architecture}.{key}") switch
    {
        null => null,
        long v when v >= 0 && v <= int.MaxValue => (int)v,
        long v => throw new GgufFormatException($"model metadata {architecture}.{key} = {v} is out of range"),
    };

    public int? OptionalInt(string key) =>
        file.GetIntegerOrNull($"{architecture}.{key}") is null ? null : Int(key);

    public float? OptionalFloat(string key) => file.GetFloatOrNull($"{architecture}.{key}");

    /// <summary>A float key that must be positive and finite when present; null when absent.</summary>
    public float? OptionalPositiveFloat(string key) => OptionalFloat(key) switch
    {
        null => null,
        float v when float.IsFinite(v) && v > 0f => v,
        float v => throw new GgufFormatException($"model metadata {architecture}.{key} = {v} is not a positive number"),
    };

    /// <summary>
    /// Which of <paramref name="layers"/> layers attend to a sliding window, from attention.sliding_window_pattern:
    /// an integer period p, where layer l slides when l % p &lt; p - 1 (p - 1 local layers, then a global one; 0 makes
    /// every layer slide and 1 none, as llama.cpp's pattern does), or an array of one bool per layer, true where the
    /// layer slides (newer conversions write it from the model's layer_types); <paramref name="defaultPeriod"/> when
    /// absent. Anything else is refused naming the key.
    /// </summary>
    public bool[] SlidingLayers(int layers, int defaultPeriod)
    {
        string key = $"{architecture}.attention.sliding_window_pattern";
        if (!file.Metadata.TryGetValue(key, out object? value))
            return Periodic(layers, defaultPeriod);
        if (value is GgufArray array)
        {
            if (array.ElementType != GgufValueType.Bool || array.Values is not bool[] flags)
                throw new GgufFormatException($"model metadata {key} is an array of {array.ElementType}, expected an integer or an array of bool (one per layer)");
            if (flags.Length != layers)
                throw new GgufFormatException($"model metadata {key} has {flags.Length} entries for {layers} layers");
            return [.. flags];
        }
        long period = file.GetIntegerOrNull(key)!.Value;
        if (period < 0 || period > int.MaxValue)
            throw new GgufFormatException($"model metadata {key} = {period} is out of range");
        return Periodic(layers, (int)period);

        static bool[] Periodic(int layers, int period)
        {
            var flags = new bool[layers];
            for (int l = 0; l < layers; l++) flags[l] = period == 0 || l % period < period - 1;
            return flags;
        }
    }

    /// <summary>
    /// RoPE scaling as llama.cpp reads it for every architecture: rope.scaling.type defaults to linear, and its factor
    /// (rope.scaling.factor, else the older rope.scale_linear; 0 or absent for none) divides positions for linear,
    /// longrope (whose factors are tensors) and yarn, never for none; yarn also blends angles over the original context
    /// (rope.scaling.original_context_length, else the training context; see <see cref="YarnRope"/>).
    /// rope.scaling.attn_factor (default 1) multiplies the rotated values. Another type, or a factor that is not a
    /// positive number, is refused naming the key.
    /// </summary>
    private (float Scale, float AttentionFactor, int YarnContext) RopeScaling()
    {
        string key = $"{architecture}.rope.scaling.type";
        string type = file.GetStringOrNull(key) ?? "linear";
        string factorKey = file.Metadata.ContainsKey($"{architecture}.rope.scaling.factor") ? "rope.scaling.factor" : "rope.scale_linear";
        float factor = OptionalFloat(factorKey) ?? 0f;
        if (!float.IsFinite(factor) || factor < 0f)
            throw new GgufFormatException($"model metadata {architecture}.{factorKey} = {factor} is not a positive number");
        float scale = type switch
        {
            "none" => 1f,
            "linear" or "longrope" or "yarn" => factor == 0f ? 1f : 1f / factor,
            _ => throw new UnsupportedModelException($"unsupported RoPE scaling '{type}' ({key}; supported: none, linear, longrope, yarn)"),
        };
        int yarnContext = type == "yarn" ? OptionalInt("rope.scaling.original_context_length") ?? Int("context_length", 2048) : 0;
        return (scale, OptionalPositiveFloat("rope.scaling.attn_factor") ?? 1f, yarnContext);
    }

    /// <summary>
    /// The shared hyper-parameters: width, depth, heads, head size (key_length, else width / heads), rotary
    /// dimensions, context, RoPE base and scaling (<see cref="RopeScaling"/>), RMS epsilon, vocabulary.
    /// </summary>
    public ModelConfig Common(RopeLayout layout, BlockRecipe recipe)
    {
        // Mixtral-style files are llama with experts (ffn_*_exps): refused here, not as a missing ffn_gate tensor.
        if (file.GetIntegerOrNull($"{architecture}.expert_count") is > 0 and long experts)
            throw new UnsupportedModelException($"mixture-of-experts models are not supported ({architecture}.expert_count = {experts})");
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

        var (scale, attentionFactor, yarnContext) = RopeScaling();
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
            RopeAttentionFactor = attentionFactor,
            YarnOriginalContext = yarnContext,
            RopeLayout = layout,
            RmsEpsilon = eps,
            VocabSize = vocab,
            Recipe = recipe,
        };
    }
}
