using SelfSpec.Gguf;
using SelfSpec.Quantization;

namespace SelfSpec.Tests;

/// <summary>
/// Writes tiny llama/qwen2 models with random weights through <see cref="GgufWriter"/>, with a small byte-level
/// BPE vocabulary that both this engine and llama.cpp load. Shapes are multiples of 256 so every tensor type
/// (K-quants included) can hold the matrices.
/// </summary>
internal static class TinyModels
{
    public sealed record Shape(int Layers = 2, int Embedding = 256, int FeedForward = 512, int Heads = 4, int KvHeads = 2, int Context = 256, bool Tied = false,
        float EmbeddingScale = 1f);

    /// <summary>
    /// What an architecture adds to llama's tensors and keys: per-layer vectors of the model's width
    /// (blk.N.NAME.weight), per-layer vectors of the head size, a head size of its own (key_length), and
    /// anything else through callbacks. Written after llama's tensors, so llama's random values stay the same.
    /// </summary>
    public sealed record Extras
    {
        public string[] LayerNorms { get; init; } = [];
        public string[] HeadNorms { get; init; } = [];
        public int? HeadDim { get; init; }
        public Action<GgufWriter, string>? Metadata { get; init; }
        public Action<GgufWriter, Random, int>? Tensors { get; init; }   // (writer, rng, head size)
        /// <summary>Q, K and V as one attn_qkv matrix, gate and up as one ffn_up of twice the rows, gate first (phi3).</summary>
        public bool Fused { get; init; }
    }

    public static readonly string[] Specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
    public static readonly string[] Merges = ["Ġ t", "h e", "Ġt he", "i n", "Ġ a", "e r", "o n", "Ġ s"];

    /// <summary>The vocabulary: 256 byte tokens (GPT-2's byte-to-unicode alphabet), merge results, then specials.</summary>
    public static string[] Vocabulary()
    {
        var tokens = new List<string>();
        var map = ByteToUnicode();
        for (int b = 0; b < 256; b++) tokens.Add(map[b].ToString());
        foreach (string m in Merges) tokens.Add(m.Replace(" ", ""));
        tokens.AddRange(Specials);
        return [.. tokens];
    }

    public static string Write(string directory, GgmlType matrixType, int seed, Shape? shape = null, string architecture = "llama", GgmlType? embeddingType = null, Extras? extras = null)
    {
        shape ??= new Shape();
        extras ??= new Extras();
        var rng = new Random(seed);
        string[] vocab = Vocabulary();
        int v = vocab.Length;
        int headDim = extras.HeadDim ?? shape.Embedding / shape.Heads;
        var w = new GgufWriter();
        w.Add("general.architecture", architecture).Add("general.name", $"tiny-{matrixType}-{seed}");
        w.Add($"{architecture}.block_count", (uint)shape.Layers)
         .Add($"{architecture}.context_length", (uint)shape.Context)
         .Add($"{architecture}.embedding_length", (uint)shape.Embedding)
         .Add($"{architecture}.feed_forward_length", (uint)shape.FeedForward)
         .Add($"{architecture}.attention.head_count", (uint)shape.Heads)
         .Add($"{architecture}.attention.head_count_kv", (uint)shape.KvHeads)
         .Add($"{architecture}.rope.freq_base", 10000f)
         .Add($"{architecture}.attention.layer_norm_rms_epsilon", 1e-5f)
         .Add($"{architecture}.vocab_size", (uint)v);
        if (extras.HeadDim is int hd) w.Add($"{architecture}.attention.key_length", (uint)hd).Add($"{architecture}.attention.value_length", (uint)hd);
        extras.Metadata?.Invoke(w, architecture);
        w.Add("tokenizer.ggml.model", "gpt2").Add("tokenizer.ggml.pre", "default")
         .Add("tokenizer.ggml.tokens", vocab)
         .Add("tokenizer.ggml.token_type", vocab.Select((_, i) => i >= v - Specials.Length ? 3 : 1).ToArray())
         .Add("tokenizer.ggml.merges", Merges)
         .Add("tokenizer.ggml.bos_token_id", (uint)(v - 2))
         .Add("tokenizer.ggml.eos_token_id", (uint)(v - 1))
         .Add("tokenizer.ggml.add_bos_token", false);

        var embType = embeddingType ?? matrixType;
        Matrix(w, rng, "token_embd.weight", embType, shape.Embedding, v, shape.EmbeddingScale);
        Vector(w, rng, "output_norm.weight", shape.Embedding);
        if (!shape.Tied) Matrix(w, rng, "output.weight", matrixType, shape.Embedding, v, 1f / MathF.Sqrt(shape.Embedding));
        for (int l = 0; l < shape.Layers; l++)
        {
            string p = $"blk.{l}.";
            float s = 1f / MathF.Sqrt(shape.Embedding);
            Vector(w, rng, p + "attn_norm.weight", shape.Embedding);
            if (extras.Fused)
            {
                Matrix(w, rng, p + "attn_qkv.weight", matrixType, shape.Embedding, (shape.Heads + 2 * shape.KvHeads) * headDim, s);
            }
            else
            {
                Matrix(w, rng, p + "attn_q.weight", matrixType, shape.Embedding, shape.Heads * headDim, s);
                Matrix(w, rng, p + "attn_k.weight", matrixType, shape.Embedding, shape.KvHeads * headDim, s);
                Matrix(w, rng, p + "attn_v.weight", matrixType, shape.Embedding, shape.KvHeads * headDim, s);
            }
            if (architecture == "qwen2")
            {
                Bias(w, rng, p + "attn_q.bias", shape.Heads * headDim);
                Bias(w, rng, p + "attn_k.bias", shape.KvHeads * headDim);
                Bias(w, rng, p + "attn_v.bias", shape.KvHeads * headDim);
            }
            Matrix(w, rng, p + "attn_output.weight", matrixType, shape.Heads * headDim, shape.Embedding, s);
            Vector(w, rng, p + "ffn_norm.weight", shape.Embedding);
            if (extras.Fused)
            {
                Matrix(w, rng, p + "ffn_up.weight", matrixType, shape.Embedding, 2 * shape.FeedForward, s);
            }
            else
            {
                Matrix(w, rng, p + "ffn_gate.weight", matrixType, shape.Embedding, shape.FeedForward, s);
                Matrix(w, rng, p + "ffn_up.weight", matrixType, shape.Embedding, shape.FeedForward, s);
            }
            Matrix(w, rng, p + "ffn_down.weight", matrixType, shape.FeedForward, shape.Embedding, 1f / MathF.Sqrt(shape.FeedForward));
            foreach (string name in extras.LayerNorms) Vector(w, rng, p + name + ".weight", shape.Embedding);
            foreach (string name in extras.HeadNorms) Vector(w, rng, p + name + ".weight", headDim);
        }
        extras.Tensors?.Invoke(w, rng, headDim);
        Directory.CreateDirectory(directory);
        string path = Path.Combine(directory, $"tiny-{architecture}-{matrixType}-{seed}.gguf");
        w.WriteTo(path);
        return path;
    }

    private static void Matrix(GgufWriter w, Random rng, string name, GgmlType type, int inDim, int outDim, float scale)
    {
        var values = new float[inDim * outDim];
        for (int i = 0; i < values.Length; i++) values[i] = (float)(rng.NextDouble() * 2 - 1) * scale * 1.7f;
        var bytes = new byte[GgmlTypeInfo.RowBytes(type, inDim) * outDim];
        int rowBytes = (int)GgmlTypeInfo.RowBytes(type, inDim);
        for (int r = 0; r < outDim; r++)
            Quantize.Row(type, values.AsSpan(r * inDim, inDim), bytes.AsSpan(r * rowBytes, rowBytes));
        w.AddTensor(name, type, [inDim, outDim], bytes);
    }

    public static void Vector(GgufWriter w, Random rng, string name, int n)
    {
        var values = new float[n];
        for (int i = 0; i < n; i++) values[i] = 0.8f + 0.4f * (float)rng.NextDouble();
        w.AddTensor(name, GgmlType.F32, [n], System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
    }

    private static void Bias(GgufWriter w, Random rng, string name, int n)
    {
        var values = new float[n];
        for (int i = 0; i < n; i++) values[i] = 0.2f * (float)(rng.NextDouble() * 2 - 1);
        w.AddTensor(name, GgmlType.F32, [n], System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
    }

    /// <summary>GPT-2's reversible map from bytes to printable characters.</summary>
    public static char[] ByteToUnicode()
    {
        var map = new char[256];
        int n = 0;
        for (int b = 0; b < 256; b++)
        {
            bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            map[b] = printable ? (char)b : (char)(256 + n++);
        }
        return map;
    }

    public static string TempDirectory()
    {
        string dir = Path.Combine(Path.GetTempPath(), "selfspec-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }
}
