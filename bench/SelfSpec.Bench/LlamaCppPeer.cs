using System.Diagnostics;
using System.Numerics.Tensors;
using LLama;
using LLama.Common;
using LLama.Native;

namespace SelfSpec.Bench;

/// <summary>One greedy generation's tokens and timings.</summary>
internal sealed record PeerRun(int[] Output, double PrefillSeconds, double DecodeSeconds);

/// <summary>
/// llama.cpp through LLamaSharp, the peer: the same GGUF file, the same prompt token ids and thread count,
/// greedy, one token per <c>llama_decode</c>. Timed like <c>Autoregressive</c>: prefill ends with the first
/// token's logits; decode covers every later forward pass and every argmax.
/// </summary>
internal sealed class LlamaCppPeer : IDisposable
{
    private const int BatchSize = 512;
    private readonly LLamaWeights _weights;
    private readonly LLamaContext _context;
    private readonly LLamaBatch _batch = new();

    public uint ContextSize { get; }

    public LlamaCppPeer(string path, int threads, uint contextSize, bool? flashAttention)
    {
        NativeLogConfig.llama_log_set((_, _) => { });
        ContextSize = contextSize;
        var p = new ModelParams(path)
        {
            ContextSize = contextSize, GpuLayerCount = 0, Threads = threads, BatchThreads = threads,
            BatchSize = BatchSize, UBatchSize = BatchSize,
        };
        // Unset: llama.cpp's own default (auto, which enables it on the CPU), as its users run it. Its two attention
        // paths round differently, so greedy outputs may part from SelfSpec's on near-ties either way.
        if (flashAttention is bool fa) p = p with { FlashAttention = fa };
        _weights = LLamaWeights.LoadFromFile(p);
        _context = _weights.CreateContext(p);
    }

    private const int SettleMilliseconds = 100;

    /// <summary>Greedy decoding (argmax, lowest id on ties) of up to <paramref name="maxTokens"/> tokens, stopping before an end-of-generation token.</summary>
    public PeerRun Generate(int[] prompt, int maxTokens, Func<int, bool> isEndOfGeneration)
    {
        if (prompt.Length + maxTokens > ContextSize)
            throw new InvalidRequestException($"prompt of {prompt.Length} tokens plus {maxTokens} new ones exceeds llama.cpp's context of {ContextSize}");
        var clock = Stopwatch.StartNew();
        DecodePrompt(prompt);
        double prefill = clock.Elapsed.TotalSeconds;
        clock.Restart();
        var output = new List<int>(maxTokens);
        while (output.Count < maxTokens)
        {
            int next = TensorPrimitives.IndexOfMax(_context.NativeHandle.GetLogitsIth(-1));
            if (isEndOfGeneration(next)) break;
            output.Add(next);
            if (output.Count >= maxTokens) break;
            _batch.Clear();
            _batch.Add((LLamaToken)next, prompt.Length + output.Count - 1, LLamaSeqId.Zero, true);
            Check(_context.Decode(_batch));
        }
        double decode = clock.Elapsed.TotalSeconds;
        // llama.cpp's threads keep polling for work a while after a decode; let them settle so the next method
        // timed (and its price bound's cost samples) does not share the cores with them. Outside every timing.
        Thread.Sleep(SettleMilliseconds);
        return new PeerRun([.. output], prefill, decode);
    }

    /// <summary>The forward-pass curve's timer: a batch of n tokens with logits for every row after <paramref name="prefix"/>.</summary>
    public IForwardTimer ForwardTimer(int[] prefix, int maxN) => new Timer(this, prefix, maxN);

    /// <summary>Decodes the prompt once; each timed batch's cache entries are removed afterwards (seq rm).</summary>
    private sealed class Timer : IForwardTimer
    {
        private readonly LlamaCppPeer _peer;
        private readonly int _prefix;
        private readonly int[] _tokens;

        public Timer(LlamaCppPeer peer, int[] prefix, int maxN)
        {
            _peer = peer;
            _prefix = prefix.Length;
            _tokens = ForwardCurve.BatchTokens(prefix, maxN);
            peer.DecodePrompt(prefix);
        }

        public double Seconds(int n)
        {
            var batch = _peer._batch;
            var ctx = _peer._context;
            batch.Clear();
            for (int i = 0; i < n; i++) batch.Add((LLamaToken)_tokens[i], _prefix + i, LLamaSeqId.Zero, true);
            long t0 = Stopwatch.GetTimestamp();
            Check(ctx.Decode(batch));
            _ = ctx.NativeHandle.GetLogitsIth(n - 1)[0];
            double s = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            ctx.NativeHandle.MemorySequenceRemove(LLamaSeqId.Zero, _prefix, -1);
            return s;
        }
    }

    private void DecodePrompt(int[] tokens)
    {
        _context.NativeHandle.MemoryClear(true);
        for (int start = 0; start < tokens.Length; start += BatchSize)
        {
            _batch.Clear();
            int n = Math.Min(BatchSize, tokens.Length - start);
            for (int i = 0; i < n; i++)
                _batch.Add((LLamaToken)tokens[start + i], start + i, LLamaSeqId.Zero, start + i == tokens.Length - 1);
            Check(_context.Decode(_batch));
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
