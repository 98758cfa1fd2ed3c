using System.Diagnostics;
using SelfSpec.Model;

namespace SelfSpec.Decoding;

/// <summary>
/// Runs every decoding path once when a model is loaded (architecture.md 8, full speed from the first token): a short
/// prefill, plain steps, and speculative rounds of up to w_max + 1 rows with lookup, the datastore and exit drafts
/// forced on. Afterwards the per-token methods are compiled (the hot ones are marked AggressiveOptimization, so
/// their first call compiles them fully optimized whatever the runtime's tiering settings) and the weights are paged
/// in, so a fresh process's first answer is not spent compiling. The cost table is cleared afterwards: times taken
/// while compiling would start its running medians far too high (the first real rounds fill it); then a one-row pass
/// is timed again, compiled, as its first one-row times. A dozen forward calls; nothing is remembered as an answer.
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
            lm.Costs.Clear();
            TimeOneRow(lm);
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
