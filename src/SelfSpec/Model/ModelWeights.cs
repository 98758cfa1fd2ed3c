using SelfSpec.Gguf;
using SelfSpec.Quantization;

namespace SelfSpec.Model;

/// <summary>
/// All tensors of a model, bound to the memory-mapped file (matrices in place; only the small norm and
/// bias vectors are copied out, as float). Immutable: decoding state lives in <see cref="KvCache"/>.
/// </summary>
internal sealed class ModelWeights
{
    public required ModelConfig Config { get; init; }
    public required WeightMatrix TokenEmbedding { get; init; }   // (vocab rows of embd)
    public required LayerWeights[] Layers { get; init; }
    public required float[] OutputNorm { get; init; }            // (embd)
    /// <summary>The output head: its own tensor, or the token embedding when tied.</summary>
    public required WeightMatrix Output { get; init; }           // (embd -> vocab)
    public bool OutputTied { get; init; }

    /// <summary>Binds the file's tensors; <paramref name="pack"/> also repacks Q4_0/Q4_1 layer matrices for the fast kernels.</summary>
    public static ModelWeights Load(GgufFile file, ModelConfig config, bool pack = true)
    {
        int embd = config.EmbeddingDim, ff = config.FeedForwardDim;
        bool hasBias = config.Architecture == "qwen2";
        var layers = new LayerWeights[config.LayerCount];
        for (int i = 0; i < layers.Length; i++)
        {
            string p = $"blk.{i}.";
            layers[i] = new LayerWeights
            {
                AttentionNorm = Vector(file, p + "attn_norm.weight", embd),
                Query = Matrix(file, p + "attn_q.weight", embd, config.QueryDim, pack),
                Key = Matrix(file, p + "attn_k.weight", embd, config.KvDim, pack),
                Value = Matrix(file, p + "attn_v.weight", embd, config.KvDim, pack),
                Output = Matrix(file, p + "attn_output.weight", config.QueryDim, embd, pack),
                QueryBias = hasBias ? OptionalVector(file, p + "attn_q.bias", config.QueryDim) : null,
                KeyBias = hasBias ? OptionalVector(file, p + "attn_k.bias", config.KvDim) : null,
                ValueBias = hasBias ? OptionalVector(file, p + "attn_v.bias", config.KvDim) : null,
                FeedForwardNorm = Vector(file, p + "ffn_norm.weight", embd),
                Gate = Matrix(file, p + "ffn_gate.weight", embd, ff, pack),
                Up = Matrix(file, p + "ffn_up.weight", embd, ff, pack),
                Down = Matrix(file, p + "ffn_down.weight", ff, embd, pack),
            };
        }
        var embedding = WeightMatrix.FromTensor(file, "token_embd.weight", embd, config.VocabSize);
        bool tied = !file.TryGetTensor("output.weight", out _);
        // The head is packed on its own; a tied embedding stays in the mapping for Embed's few rows a step.
        return new ModelWeights
        {
            Config = config,
            TokenEmbedding = embedding,
            Layers = layers,
            OutputNorm = Vector(file, "output_norm.weight", embd),
            Output = Matrix(file, tied ? "token_embd.weight" : "output.weight", embd, config.VocabSize, pack),
            OutputTied = tied,
        };
    }

    /// <summary>A matrix bound to the mapping, with a packed copy for the fast kernels when asked and its type has one.</summary>
    private static WeightMatrix Matrix(GgufFile file, string name, int inDim, int outDim, bool pack)
    {
        var m = WeightMatrix.FromTensor(file, name, inDim, outDim);
        if (!pack || !WeightMatrix.Packable(m.Type)) return m;
        var t = file.GetTensor(name);
        byte[] bytes = System.Buffers.ArrayPool<byte>.Shared.Rent(checked((int)t.ByteSize));
        try
        {
            file.ReadTensor(t, bytes);
            return m.WithPacked(bytes.AsSpan(0, (int)t.ByteSize));
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(bytes);
        }
    }

    /// <summary>Bytes held beside the mapped file by the packed copies.</summary>
    public long PackedBytes =>
        Layers.Sum(l => new[] { l.Query, l.Key, l.Value, l.Output, l.Gate, l.Up, l.Down }.Sum(m => m.Packed?.ByteSize ?? 0)) + (Output.Packed?.ByteSize ?? 0);

    private static float[]? OptionalVector(GgufFile file, string name, int length) =>
        file.TryGetTensor(name, out _) ? Vector(file, name, length) : null;

    private static float[] Vector(GgufFile file, string name, int length)
    {
        var t = file.GetTensor(name);
        if (t.ElementCount != length)
            throw new UnsupportedModelException($"tensor '{name}' has {t.ElementCount} elements, expected {length}");
        if (!GgmlTypeInfo.IsSupportedWeight(t.Type))
            throw new UnsupportedModelException($"tensor '{name}' has unsupported type {t.Type}");
        var result = new float[length];
        Dequantize.Row(t.Type, file.TensorBytes(t), result);
        return result;
    }
}
