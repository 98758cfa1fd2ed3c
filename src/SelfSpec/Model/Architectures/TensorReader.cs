using SelfSpec.Gguf;
using SelfSpec.Kernels;
using SelfSpec.Quantization;

namespace SelfSpec.Model.Architectures;

/// <summary>
/// Binds a file's tensors by name, checking shapes and types: matrices in place in the mapping (with a packed copy
/// for the fast kernels when asked and the type has one), small vectors copied out as float.
/// </summary>
internal sealed class TensorReader(GgufFile file, bool pack)
{
    public GgufFile File => file;

    public bool Has(string name) => file.TryGetTensor(name, out _);

    /// <summary>A matrix of <paramref name="outDim"/> rows of <paramref name="inDim"/> elements.</summary>
    public WeightMatrix Matrix(string name, int inDim, int outDim)
    {
        var m = WeightMatrix.FromTensor(file, name, inDim, outDim);
        if (!pack || !WeightMatrix.Packable(m.Type)) return m;
        var t = file.GetTensor(name);
        if (TryPackInChunks(t, m, 0) is { } chunked) return chunked;
        // Read, not mapped: the mapped pages of a matrix used only packed never become resident. A plain array, not
        // a pooled one: the shared pool would keep the largest (the output head, hundreds of MB) for the process's
        // life; ModelWeights.Load hands these back to the system once every matrix is packed.
        byte[] bytes = GC.AllocateUninitializedArray<byte>(checked((int)t.ByteSize));
        file.ReadTensor(t, bytes);
        return m.WithPacked(bytes);
    }

    /// <summary>
    /// Rows [first, first + count) of a fused matrix of <paramref name="totalRows"/> rows (phi3's attn_qkv, its
    /// gate and up in ffn_up) as a matrix of their own: in place in the mapping, packed from those rows' bytes.
    /// </summary>
    public unsafe WeightMatrix MatrixRows(string name, int inDim, int totalRows, int first, int count)
    {
        var whole = WeightMatrix.FromTensor(file, name, inDim, totalRows);
        if (first < 0 || count < 1 || first + count > totalRows) throw new ArgumentOutOfRangeException(nameof(count));
        var part = new WeightMatrix(whole.Data + (long)first * whole.RowBytes, whole.Type, inDim, count, file: whole.File?.From(first));
        if (!pack || !WeightMatrix.Packable(part.Type)) return part;
        var t = file.GetTensor(name);
        if (TryPackInChunks(t, part, first) is { } chunked) return chunked;
        byte[] bytes = GC.AllocateUninitializedArray<byte>(checked((int)t.ByteSize));
        file.ReadTensor(t, bytes);
        return part.WithPacked(bytes.AsSpan(checked(first * whole.RowBytes), checked(count * whole.RowBytes)));
    }

    private const int ChunkBytes = 4 << 20;
    private byte[]? _chunk;

    /// <summary>
    /// <paramref name="m"/> (rows from <paramref name="firstRow"/> of tensor <paramref name="t"/>) with a packed copy
    /// filled through one reused 4 MB buffer, for types that pack rows at a time: no whole-tensor staging array, so
    /// loading peaks near what it ends at (architecture.md 2.3). Null where the type packs only whole.
    /// </summary>
    private unsafe WeightMatrix? TryPackInChunks(GgufTensorInfo t, WeightMatrix m, int firstRow)
    {
        var create = TensorTypes.Get(m.Type).CreatePacked;
        if (create == null) return null;
        IRowPacker packer = create(m.InDim, m.OutDim);
        int rowsPerChunk = Math.Max(1, ChunkBytes / m.RowBytes);
        _chunk ??= GC.AllocateUninitializedArray<byte>(Math.Max(ChunkBytes, m.RowBytes));
        if (_chunk.Length < m.RowBytes) _chunk = GC.AllocateUninitializedArray<byte>(m.RowBytes);
        for (int r = 0; r < m.OutDim; r += rowsPerChunk)
        {
            int n = Math.Min(rowsPerChunk, m.OutDim - r);
            var span = _chunk.AsSpan(0, n * m.RowBytes);
            file.ReadTensorRange(t, (long)(firstRow + r) * m.RowBytes, span);
            packer.PackRows(span, r, n);
        }
        return new WeightMatrix(m.Data, m.Type, m.InDim, m.OutDim, packer.Matrix, m.File);
    }

    public float[]? OptionalVector(string name, int length) => Has(name) ? Vector(name, length) : null;

    public float[] Vector(string name, int length)
    {
        var t = file.GetTensor(name);
        if (t.ElementCount != length)
            throw new UnsupportedModelException($"tensor '{name}' has {t.ElementCount} elements, expected {length}");
        if (!GgmlTypeInfo.IsSupportedWeight(t.Type))
            throw new UnsupportedModelException($"tensor '{name}' has unsupported type {t.Type}");
        var result = new float[length];
        byte[] bytes = new byte[t.ByteSize]; // read, not mapped: the pages around a small tensor would stay resident
        file.ReadTensor(t, bytes);
        Dequantize.Row(t.Type, bytes, result);
        return result;
    }

    /// <summary>
    /// A layer under llama.cpp's usual tensor names (blk.N.attn_q.weight, ...), with the optional tensors the
    /// config's recipe asks for: Q/K/V biases, per-head Q/K norms, post-attention and post-feed-forward norms.
    /// </summary>
    public LayerWeights StandardLayer(int layer, ModelConfig c)
    {
        string p = $"blk.{layer}.";
        int embd = c.EmbeddingDim, ff = c.FeedForwardDim;
        var r = c.Recipe;
        return new LayerWeights
        {
            AttentionNorm = Vector(p + "attn_norm.weight", embd),
            Query = Matrix(p + "attn_q.weight", embd, c.QueryDim),
            Key = Matrix(p + "attn_k.weight", embd, c.KvDim),
            Value = Matrix(p + "attn_v.weight", embd, c.KvDim),
            Output = Matrix(p + "attn_output.weight", c.QueryDim, embd),
            QueryBias = r.QkvBiases ? OptionalVector(p + "attn_q.bias", c.QueryDim) : null,
            KeyBias = r.QkvBiases ? OptionalVector(p + "attn_k.bias", c.KvDim) : null,
            ValueBias = r.QkvBiases ? OptionalVector(p + "attn_v.bias", c.KvDim) : null,
            QueryNorm = r.QueryKeyNorm ? Vector(p + "attn_q_norm.weight", c.HeadDim) : null,
            KeyNorm = r.QueryKeyNorm ? Vector(p + "attn_k_norm.weight", c.HeadDim) : null,
            PostAttentionNorm = r.PostAttentionNorm ? Vector(p + "post_attention_norm.weight", embd) : null,
            FeedForwardNorm = Vector(p + "ffn_norm.weight", embd),
            Gate = Matrix(p + "ffn_gate.weight", embd, ff),
            Up = Matrix(p + "ffn_up.weight", embd, ff),
            Down = Matrix(p + "ffn_down.weight", ff, embd),
            PostFeedForwardNorm = r.PostFeedForwardNorm ? Vector(p + "post_ffw_norm.weight", embd) : null,
        };
    }
}
