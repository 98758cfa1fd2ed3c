using System.Diagnostics;
using SelfSpec.Model;

namespace SelfSpec.Decoding;

/// <summary>
/// Runs every decoding path once when a model is loaded (architecture.md 8, full speed from the first token): a short
/// prefill, plain steps, and speculative rounds of up to w_max + 1 rows with lookup, the datastore and exit drafts
/// forced on. Afterwards the per-token methods are compiled (the hot ones are marked AggressiveOptimization, so
/// their first call compiles them fully optimized whatever the runtime's tiering settings) and the weights are paged
/// in, so a fresh process's first answer is not spent compiling; then one pass over each batch size up to a kernel tile
/// and one more compiles the kernels' per-size code. The cost table is cleared afterwards: times taken
/// while compiling would start its running medians far too high (the first real rounds fill it); then a one-row pass
/// is timed again, compiled, as its first one-row times. About twenty forward calls; nothing is remembered as an answer.
/// </summary>
internal static class WarmUp
{
    /// <summary>Prompt length: a prefill chunk of more than one row, short enough to cost little.</summary>
    private const int PromptTokens = 8;
    private const int NewTokens = 3;

    public static void Run(LanguageModel lm)
    {
        var t = lm.Transformer;
        int vocab = lm.Config.VocabSize;
        // A repeating pattern, so lookup finds copies; the datastore holds it too.
        int[] pattern = [.. Enumerable.Range(0, 3).Select(i => (int)((i * 7919L + 11) % vocab))];
        int[] prompt = [.. Enumerable.Range(0, PromptTokens).Select(i => pattern[i % pattern.Length])];
        var store = new TokenStore([.. pattern, .. pattern, TokenStore.Separator], vocab);
        var plain = new GenerationOptions { Method = DecodingMethod.Autoregressive, MaxTokens = NewTokens };
        var defaults = lm.SpeculationDefaults;
        var spec = defaults with
        {
            PriceBound = false, Tau = 0f, LookupMinNgram = 1, HybridMinNgram = 1, MaxDrafts = Math.Min(defaults.MaxDrafts, t.MaxBatch - 1),
        };
        lock (lm.Gate)
        {
            new Autoregressive(t).Generate(prompt, plain, _ => false, null, default);
            var speculative = new SelfSpeculative(t, lm.Costs, lm.ExitHead, lm.ExitPriors, [store]);
            foreach (var method in new[] { DecodingMethod.Hybrid, DecodingMethod.SpecBound })
                speculative.Generate(prompt, plain with { Method = method, Speculation = spec }, _ => false, null, default);
            RunEveryBatchSize(lm);
            lm.Costs.Clear();
            TimeOneRow(lm);
        }
    }

    /// <summary>
    /// Batch sizes run once each at load: every tile size of the kernels (<see cref="DecodeCosts.TileRows"/> rows at most),
    /// and one size past a tile, which splits into two.
    /// </summary>
    private const int CompiledBatchSizes = DecodeCosts.TileRows + 1;

    /// <summary>
    /// A pass (every layer, then the head) over each batch size from 1 to <see cref="CompiledBatchSizes"/>, on a scratch
    /// cache. The matrix and attention kernels are generic over how many rows (or queries) their tile holds, and each
    /// instantiation is compiled at its first call; the speculative rounds above meet only a few sizes, so a fresh
    /// process met the rest inside its first answers, where verification passes of 2 to 9 rows compiled one by one:
    /// measured on Spec-Bench translation prompts, a fresh `generate --method hybrid` made the same rounds as a warm
    /// process in twice the decode time (architecture.md 8). Larger batches are made of these tiles.
    /// </summary>
    private static void RunEveryBatchSize(LanguageModel lm)
    {
        var t = lm.Transformer;
        var c = lm.Config;
        int most = Math.Min(t.MaxBatch, CompiledBatchSizes);
        var cache = new KvCache(c, most);
        var hidden = new float[most * c.EmbeddingDim];
        var logits = new float[most * c.VocabSize];
        int[] positions = [.. Enumerable.Range(0, most)];
        int[] tokens = [.. Enumerable.Range(0, most).Select(i => (int)((i * 7919L + 11) % c.VocabSize))];
        for (int rows = 1; rows <= most; rows++)
        {
            cache.Truncate(0);
            t.Embed(tokens.AsSpan(0, rows), hidden);
            t.Forward(positions.AsSpan(0, rows), hidden.AsSpan(0, rows * c.EmbeddingDim), 0, c.LayerCount, cache);
            t.FinalLogits(hidden, rows, logits);
        }
    }

    /// <summary>
    /// Times a one-row pass (every layer, then the head) now that the code is compiled, the fastest of three, as the
    /// cost table's first one-row times: the table relates every size to them, and under continuous batching a
    /// one-row pass may not come for a long time (eight sequences decode in passes of eight rows or more; architecture.md
    /// 4). On a scratch cache; nothing is committed.
    /// </summary>
    private static void TimeOneRow(LanguageModel lm)
    {
        var t = lm.Transformer;
        var c = lm.Config;
        var cache = new KvCache(c, 1);
        var hidden = new float[c.EmbeddingDim];
        var logits = new float[c.VocabSize];
        double layers = double.PositiveInfinity, head = double.PositiveInfinity;
        for (int i = 0; i < 3; i++)
        {
            t.Embed([1 % c.VocabSize], hidden);
            long t0 = Stopwatch.GetTimestamp();
            t.Forward([0], hidden, 0, c.LayerCount, cache);
            layers = Math.Min(layers, Stopwatch.GetElapsedTime(t0).TotalSeconds);
            long t1 = Stopwatch.GetTimestamp();
            t.FinalLogits(hidden, 1, logits);
            head = Math.Min(head, Stopwatch.GetElapsedTime(t1).TotalSeconds);
        }
        lm.Costs.ObserveForward(1, c.LayerCount, layers);
        lm.Costs.ObserveHead(1, head);
    }
}
