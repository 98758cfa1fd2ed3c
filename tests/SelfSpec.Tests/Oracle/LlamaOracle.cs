using System.Text;
using LLama;
using LLama.Common;
using LLama.Native;

namespace SelfSpec.Tests.Oracle;

/// <summary>
/// llama.cpp through LLamaSharp, the reference for tokens and logits (test-only). One context; every call
/// starts from an empty KV cache. Flash attention is on by default, as llama.cpp chooses on the CPU; its two
/// attention paths round differently (F16 value accumulation with it, F16 probabilities without).
/// </summary>
internal sealed class LlamaOracle : IDisposable
{
    private static readonly Lock InitGate = new();
    private static bool _logsSilenced;

    private readonly LLamaWeights _weights;
    private readonly LLamaContext _context;

    public int VocabSize { get; }

    public LlamaOracle(string path, uint contextSize = 1024, int threads = 2, bool flashAttention = true)
    {
        lock (InitGate)
        {
            if (!_logsSilenced)
            {
                NativeLogConfig.llama_log_set((_, _) => { });
                _logsSilenced = true;
            }
        }
        var p = new ModelParams(path) { FlashAttention = flashAttention, ContextSize = contextSize, GpuLayerCount = 0, Threads = threads, BatchSize = 512, UBatchSize = 512 };
        _weights = LLamaWeights.LoadFromFile(p);
        _context = _weights.CreateContext(p);
        VocabSize = _weights.Vocab.Count;
    }

    public int[] Tokenize(string text, bool addSpecial, bool parseSpecial) =>
        _context.Tokenize(text, addSpecial, parseSpecial).Select(t => (int)t).ToArray();

    /// <summary>Logits after the last token of <paramref name="tokens"/>.</summary>
    public float[] LastLogits(int[] tokens)
    {
        DecodePrompt(tokens);
        return _context.NativeHandle.GetLogitsIth(-1).ToArray();
    }

    /// <summary>Greedy continuation (argmax, lowest id on ties), stopping before a token <paramref name="stop"/> accepts.</summary>
    public int[] Greedy(int[] prompt, int maxTokens, Func<int, bool> stop)
    {
        DecodePrompt(prompt);
        var output = new List<int>();
        var batch = new LLamaBatch();
        for (int i = 0; i < maxTokens; i++)
        {
            int next = System.Numerics.Tensors.TensorPrimitives.IndexOfMax(_context.NativeHandle.GetLogitsIth(-1));
            if (stop(next)) break;
            output.Add(next);
            if (i == maxTokens - 1) break;
            batch.Clear();
            batch.Add((LLamaToken)next, prompt.Length + i, LLamaSeqId.Zero, true);
            Check(_context.Decode(batch));
        }
        return [.. output];
    }

    private void DecodePrompt(int[] tokens)
    {
        _context.NativeHandle.MemoryClear(true);
        var batch = new LLamaBatch();
        for (int start = 0; start < tokens.Length; start += 512)
        {
            batch.Clear();
            int n = Math.Min(512, tokens.Length - start);
            for (int i = 0; i < n; i++)
                batch.Add((LLamaToken)tokens[start + i], start + i, LLamaSeqId.Zero, start + i == tokens.Length - 1);
            Check(_context.Decode(batch));
        }
    }

    private static void Check(DecodeResult r)
    {
        if (r != DecodeResult.Ok) throw new InvalidOperationException($"llama.cpp decode failed: {r}");
    }

    public void Dispose()
    {
        _context.Dispose();
        _weights.Dispose();
    }
}
