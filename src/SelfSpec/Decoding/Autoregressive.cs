using System.Diagnostics;
using SelfSpec.Model;
using SelfSpec.Sampling;

namespace SelfSpec.Decoding;

/// <summary>
/// Plain decoding: the prompt in batched chunks, then one full forward pass per token. The reference every
/// speculative method must reproduce exactly.
/// </summary>
internal sealed class Autoregressive
{
    private readonly Transformer _model;

    public Autoregressive(Transformer model) => _model = model;

    /// <param name="isEndOfGeneration">tokens that stop generation</param>
    /// <param name="onToken">called with each generated token; return false to stop</param>
    public GenerationResult Generate(int[] prompt, GenerationOptions options, Func<int, bool> isEndOfGeneration,
        Func<int, bool>? onToken, CancellationToken cancellation)
    {
        options.Validate();
        var c = _model.Config;
        var stats = new DecodeStats { Method = DecodingMethod.Autoregressive, PromptTokens = prompt.Length };
        var cache = new KvCache(c, KvCache.CapacityFor(c, prompt.Length, options.MaxTokens));
        var sampler = new Sampler(options.Sampling, c.VocabSize);
        var hidden = new float[_model.MaxBatch * c.EmbeddingDim];
        var logits = new float[c.VocabSize];
        var positions = new int[_model.MaxBatch];
        var tokens = new List<int>(prompt.Length + options.MaxTokens);
        tokens.AddRange(prompt);
        var output = new List<int>(options.MaxTokens);
        var finish = FinishReason.Length;

        var clock = Stopwatch.StartNew();
        // Prefill: chunks of up to MaxBatch positions; logits for the last prompt position only.
        int last = 0;
        for (int start = 0; start < prompt.Length; start += _model.MaxBatch)
        {
            int n = Math.Min(_model.MaxBatch, prompt.Length - start);
            for (int i = 0; i < n; i++) positions[i] = start + i;
            _model.Embed(prompt.AsSpan(start, n), hidden);
            _model.Forward(positions.AsSpan(0, n), hidden.AsSpan(0, n * c.EmbeddingDim), 0, c.LayerCount, cache);
            last = n - 1;
        }
        cache.Commit(prompt.Length);
        _model.FinalLogits(hidden.AsSpan(last * c.EmbeddingDim, c.EmbeddingDim), 1, logits);
        stats.PrefillSeconds = clock.Elapsed.TotalSeconds;

        clock.Restart();
        while (output.Count < options.MaxTokens)
        {
            if (cancellation.IsCancellationRequested) { finish = FinishReason.Cancelled; break; }
            int next = sampler.Sample(logits, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(tokens));
            if (options.StopAtEndOfGeneration && isEndOfGeneration(next)) { finish = FinishReason.EndOfGeneration; break; }
            output.Add(next);
            tokens.Add(next);
            if (onToken != null && !onToken(next)) { finish = FinishReason.Cancelled; break; }
            if (output.Count >= options.MaxTokens) break;
            if (cache.Length >= cache.Capacity)
            {
                finish = FinishReason.ContextFull;
                break;
            }
            positions[0] = cache.Length;
            _model.Embed([next], hidden);
            _model.Forward(positions.AsSpan(0, 1), hidden.AsSpan(0, c.EmbeddingDim), 0, c.LayerCount, cache);
            cache.Commit(cache.Length + 1);
            _model.FinalLogits(hidden, 1, logits);
            stats.Rounds++;
            stats.LayerRows += c.LayerCount;
        }
        stats.DecodeSeconds = clock.Elapsed.TotalSeconds;
        stats.GeneratedTokens = output.Count;
        return new GenerationResult(prompt, [.. output], finish, stats);
    }
}
