using SelfSpec.Gguf;
using SelfSpec.Quantization;

namespace SelfSpec.Kernels.Bench;

/// <summary>
/// Random-weight models with the shapes and tensor types of real Q4_K_M downloads, written by <see cref="GgufWriter"/>
/// for the speed benchmark (architecture.md 7): what runs is real-sized, so decode and prefill speed, memory and the
/// forward curve are those of the real files; the values are random (no text quality is measured).
/// Tensor types follow llama.cpp's Q4_K_M recipe: Q4_K everywhere, Q6_K for the output head (the tied token
/// embedding where there is no output.weight) and for attn_v and ffn_down on the "use more bits" layers (the first
/// and last eighth of the layers and every third in between), and where a row is not a whole number of 256-element
/// super-blocks, Q4_K falls back to Q5_0 and Q6_K to Q8_0. The tokenizer is the bundled model's, its vocabulary
/// padded with unused tokens to the shape's size, so both engines load the file.
/// </summary>
internal static class ShapeModels
{
    public sealed record Shape(string Name, string Architecture, int Width, int Layers, int Heads, int KvHeads, int HeadDim, int FeedForward,
        int Vocab, float RopeBase, float Eps, bool QkvBias, bool Llama3RopeFreqs);

    public static readonly Shape Llama32_1B = new("llama3.2-1b-shape-q4_k_m", "llama", 2048, 16, 32, 8, 64, 8192, 128256, 500000f, 1e-5f,
        QkvBias: false, Llama3RopeFreqs: true);

    public static readonly Shape Qwen25_05B = new("qwen2.5-0.5b-shape-q4_k_m", "qwen2", 896, 24, 14, 2, 64, 4864, 151936, 1000000f, 1e-6f,
        QkvBias: true, Llama3RopeFreqs: false);

    public static readonly Shape[] All = [Llama32_1B, Qwen25_05B];

    /// <summary>llama.cpp's use_more_bits: the first and last eighth of the layers, and every third layer in between.</summary>
    public static bool MoreBits(int layer, int layers) => layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2;

    /// <summary>The Q4_K_M type of a matrix of rows <paramref name="inDim"/> long: Q4_K or Q6_K, or their fallbacks.</summary>
    public static GgmlType Q4KM(int inDim, bool moreBits) => (inDim % 256 == 0, moreBits) switch
    {
        (true, false) => GgmlType.Q4_K,
        (true, true) => GgmlType.Q6_K,
        (false, false) => GgmlType.Q5_0,
        (false, true) => GgmlType.Q8_0,
    };

    /// <summary>Writes the shape's model to <paramref name="path"/> with the tokenizer of <paramref name="tokenizerModel"/>.</summary>
    public static void Write(Shape s, string tokenizerModel, string path, int seed = 1)
    {
        var rng = new Random(seed);
        var pools = new Dictionary<(GgmlType, int, float), byte[][]>();
        var w = new GgufWriter();
        string a = s.Architecture;
        w.Add("general.architecture", a).Add("general.name", s.Name);
        w.Add($"{a}.block_count", (uint)s.Layers)
         .Add($"{a}.context_length", 8192u)
         .Add($"{a}.embedding_length", (uint)s.Width)
         .Add($"{a}.feed_forward_length", (uint)s.FeedForward)
         .Add($"{a}.attention.head_count", (uint)s.Heads)
         .Add($"{a}.attention.head_count_kv", (uint)s.KvHeads)
         .Add($"{a}.rope.freq_base", s.RopeBase)
         .Add($"{a}.rope.dimension_count", (uint)s.HeadDim)
         .Add($"{a}.attention.layer_norm_rms_epsilon", s.Eps)
         .Add($"{a}.vocab_size", (uint)s.Vocab);
        CopyTokenizer(w, tokenizerModel, s.Vocab);

        // Tied head: token_embd is the output matrix, so it takes the head's type.
        Matrix(w, rng, pools, "token_embd.weight", Q4KM(s.Width, moreBits: true), s.Width, s.Vocab, 1f);
        Vector(w, rng, "output_norm.weight", s.Width);
        if (s.Llama3RopeFreqs) w.AddTensor("rope_freqs.weight", GgmlType.F32, [s.HeadDim / 2], Bytes(Llama3Factors(s.HeadDim, s.RopeBase)));
        int q = s.Heads * s.HeadDim, kv = s.KvHeads * s.HeadDim;
        for (int l = 0; l < s.Layers; l++)
        {
            string p = $"blk.{l}.";
            bool more = MoreBits(l, s.Layers);
            float sw = 1f / MathF.Sqrt(s.Width);
            Vector(w, rng, p + "attn_norm.weight", s.Width);
            Matrix(w, rng, pools, p + "attn_q.weight", Q4KM(s.Width, false), s.Width, q, sw);
            Matrix(w, rng, pools, p + "attn_k.weight", Q4KM(s.Width, false), s.Width, kv, sw);
            Matrix(w, rng, pools, p + "attn_v.weight", Q4KM(s.Width, more), s.Width, kv, sw);
            if (s.QkvBias)
            {
                Bias(w, rng, p + "attn_q.bias", q);
                Bias(w, rng, p + "attn_k.bias", kv);
                Bias(w, rng, p + "attn_v.bias", kv);
            }
            Matrix(w, rng, pools, p + "attn_output.weight", Q4KM(q, false), q, s.Width, 1f / MathF.Sqrt(q));
            Vector(w, rng, p + "ffn_norm.weight", s.Width);
            Matrix(w, rng, pools, p + "ffn_gate.weight", Q4KM(s.Width, false), s.Width, s.FeedForward, sw);
            Matrix(w, rng, pools, p + "ffn_up.weight", Q4KM(s.Width, false), s.Width, s.FeedForward, sw);
            Matrix(w, rng, pools, p + "ffn_down.weight", Q4KM(s.FeedForward, more), s.FeedForward, s.Width, 1f / MathF.Sqrt(s.FeedForward));
        }
        w.WriteTo(path);
    }

    /// <summary>
    /// Every tokenizer.* key of the model at <paramref name="source"/>; the token list padded to <paramref name="vocab"/>
    /// with unused tokens (type 5) no text encodes to.
    /// </summary>
    private static void CopyTokenizer(GgufWriter w, string source, int vocab)
    {
        using var f = GgufFile.Open(source);
        foreach (string key in f.MetadataKeys.Where(k => k.StartsWith("tokenizer.", StringComparison.Ordinal)))
        {
            object v = f.Metadata[key];
            if (key == "tokenizer.ggml.tokens" && v is GgufArray tokens)
            {
                var padded = new string[vocab];
                for (int i = 0; i < vocab; i++) padded[i] = i < tokens.Count ? (string)tokens.Values.GetValue(i)! : $"<|unused_{i}|>";
                v = new GgufArray(GgufValueType.String, padded);
            }
            else if (key == "tokenizer.ggml.token_type" && v is GgufArray types)
            {
                var padded = new int[vocab];
                for (int i = 0; i < vocab; i++) padded[i] = i < types.Count ? Convert.ToInt32(types.Values.GetValue(i)) : 5;
                v = new GgufArray(GgufValueType.Int32, padded);
            }
            else if (key == "tokenizer.ggml.scores" && v is GgufArray scores)
            {
                var padded = new float[vocab];
                for (int i = 0; i < vocab; i++) padded[i] = i < scores.Count ? Convert.ToSingle(scores.Values.GetValue(i)) : 0f;
                v = new GgufArray(GgufValueType.Float32, padded);
            }
            w.Add(key, v);
        }
    }

    /// <summary>
    /// A matrix of random values (uniform, scaled so activations keep their size through the layers), quantized
    /// once as a pool of 64 distinct rows per (type, row length, scale) and dealt out at random: writing a billion
    /// values through the scalar quantizers would take minutes, and speed does not depend on the values.
    /// </summary>
    private static void Matrix(GgufWriter w, Random rng, Dictionary<(GgmlType, int, float), byte[][]> pools, string name, GgmlType type, int inDim, int outDim, float scale)
    {
        int rowBytes = (int)GgmlTypeInfo.RowBytes(type, inDim);
        if (!pools.TryGetValue((type, inDim, scale), out byte[][]? pool))
        {
            pool = new byte[64][];
            var values = new float[inDim];
            for (int r = 0; r < pool.Length; r++)
            {
                for (int i = 0; i < inDim; i++) values[i] = (float)(rng.NextDouble() * 2 - 1) * 1.7f * scale;
                pool[r] = new byte[rowBytes];
                Quantize.Row(type, values, pool[r]);
            }
            pools[(type, inDim, scale)] = pool;
        }
        var bytes = new byte[(long)rowBytes * outDim];
        for (int r = 0; r < outDim; r++) pool[rng.Next(pool.Length)].CopyTo(bytes.AsSpan(r * rowBytes, rowBytes));
        w.AddTensor(name, type, [inDim, outDim], bytes);
    }

    private static void Vector(GgufWriter w, Random rng, string name, int n)
    {
        var values = new float[n];
        for (int i = 0; i < n; i++) values[i] = 0.8f + 0.4f * (float)rng.NextDouble();
        w.AddTensor(name, GgmlType.F32, [n], Bytes(values));
    }

    private static void Bias(GgufWriter w, Random rng, string name, int n)
    {
        var values = new float[n];
        for (int i = 0; i < n; i++) values[i] = 0.2f * (float)(rng.NextDouble() * 2 - 1);
        w.AddTensor(name, GgmlType.F32, [n], Bytes(values));
    }

    private static byte[] Bytes(float[] values) => System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray();

    /// <summary>Llama 3.2's rope_freqs: llama3 scaling with factor 32, low 1, high 4, original context 8192.</summary>
    private static float[] Llama3Factors(int headDim, float ropeBase)
    {
        const double factor = 32, low = 1, high = 4, original = 8192;
        var f = new float[headDim / 2];
        for (int i = 0; i < f.Length; i++)
        {
            double freq = 1.0 / Math.Pow(ropeBase, 2.0 * i / headDim);
            double wavelen = 2 * Math.PI / freq;
            if (wavelen < original / high) f[i] = 1f;
            else if (wavelen > original / low) f[i] = (float)factor;
            else
            {
                double smooth = (original / wavelen - low) / (high - low);
                f[i] = (float)(1 / ((1 - smooth) / factor + smooth));
            }
        }
        return f;
    }
}
