using System.Diagnostics;
using SelfSpec.Decoding;

namespace SelfSpec.Calibration;

/// <summary>
/// Timed costs on this machine, in seconds, as the decoder's own cost table (<see cref="DecodeCosts"/>) holds them
/// after real speculative rounds (docs/architecture.md, calibration): the search counts a round's calls with these.
/// </summary>
public sealed record CalibrationCosts
{
    /// <summary>
    /// One token of plain decoding as the decoder's price bound counts it: every layer for one row and the head. From
    /// the same table as the rounds' costs, so a busy spell on the machine moves both alike.
    /// </summary>
    public double PlainToken => Layers * LayerByRows[0] + HeadByRows[0];
    /// <summary>The model's layer count.</summary>
    public required int Layers { get; init; }
    /// <summary>Seconds per layer of a forward call over n rows, at index n - 1.</summary>
    public required IReadOnlyList<double> LayerByRows { get; init; }
    /// <summary>Seconds of the final head over n rows, at index n - 1.</summary>
    public required IReadOnlyList<double> HeadByRows { get; init; }
    /// <summary>Seconds of one exit-head call, by draft vocabulary size.</summary>
    public required IReadOnlyDictionary<int, double> ExitHead { get; init; }

    /// <summary>The decoder's table the figures come from (the search's price bound reads it).</summary>
    internal DecodeCosts Table { get; init; } = null!;

    /// <summary>The table priced for a draft vocabulary: frozen, with that vocabulary's exit-head cost.</summary>
    internal DecodeCosts ForVocabulary(int size) => Table.FrozenWithExitHead(ExitHead[size]);
}

/// <summary>
/// Times the engine's calls the way the decoder makes them (issue: calibration's cost model must agree with the
/// decoder). Earlier, calibration timed a 30-layer one-row call and a head call each repeated back to back and kept
/// the fastest: hot in cache and on a quiet moment, so a layer looked half as dear against the head as it is when
/// decoding (75 us against 124) and a second head row free; drafts looked cheap, the search predicted 1.32x and
/// real decoding gave 0.99x. Now speculative rounds run through the decoding loop itself, with drafting forced
/// (every row drafts at one exit layer, w = 1..w_max so every batch size is seen), into a fresh
/// <see cref="DecodeCosts"/>: its running medians of per-layer and head calls by batch size are exactly what the
/// price bound will read. A plain token is counted from the same table (every layer for one row and the head), as the bound counts it.
/// </summary>
internal static class CostTiming
{
    public static CalibrationCosts Measure(LanguageModel lm, IReadOnlyList<int[]> prompts, Translator[] translators, DraftHead head,
        int[] vocabSizes, int[] layers, int maxDrafts, int tokens, CancellationToken cancellation)
    {
        var t = lm.Transformer;
        int maxRows = maxDrafts + 1;
        var table = new DecodeCosts(LanguageModel.MaxBatch, lm.Costs.HeadToLayerPrior);
        var heads = vocabSizes.ToDictionary(n => n, n => new CalibratedExitHead(t, translators.Select(x => (x.Layer, x.A, x.B)), head.Tokens[..n]));
        int largest = vocabSizes.Max();
        var exitHead = vocabSizes.ToDictionary(n => n, _ => new List<double>());
        var drafting = new SelfSpeculative(t, table, heads[largest]);
        int pass = 0;
        foreach (int[] prompt in prompts)
            for (int w = 0; w <= maxDrafts; w++)
            {
                cancellation.ThrowIfCancellationRequested();
                // w > 0: every row drafts at one exit layer (tau 0 always fires, no bound), the layer rotating over
                // the candidates so the calls' segments have the decoder's shapes; every round has w + 1 rows.
                // w = 0: no exit ever fires (tau 1), so every round is one row: the one-row head is timed only in
                // such rounds, and every n-row cost is read relative to the one-row cost.
                int exit = layers[pass++ % layers.Length];
                var spec = SpeculationOptions.Default with
                {
                    PriceBound = false, Tau = w > 0 ? 0f : 1f, MaxDrafts = Math.Max(1, w), ExitLayers = [exit], MaxDepth = exit,
                };
                var options = new GenerationOptions { MaxTokens = tokens, Method = DecodingMethod.SpecBound, Speculation = spec, StopAtEndOfGeneration = false };
                drafting.Generate(prompt, options, lm.Tokenizer.IsEndOfGeneration, null, cancellation);
                TimeExitHeads(heads, layers, exitHead, t.Config.EmbeddingDim, prompt.Length + w);
            }
        // The draft vocabularies' heads, timed directly between rounds (median), scaled to what the decoder timed for
        // the largest: the decoder's call sits among other work, which the direct timing does not see.
        double scale = exitHead[largest].Count > 0 ? table.ExitHead(1) / Median(exitHead[largest]) : 1;
        return new CalibrationCosts
        {
            Layers = t.Config.LayerCount,
            LayerByRows = [.. Enumerable.Range(1, maxRows).Select(table.Layer)],
            HeadByRows = [.. Enumerable.Range(1, maxRows).Select(table.Head)],
            ExitHead = exitHead.ToDictionary(e => e.Key, e => scale * Median(e.Value)),
            Table = table,
        };
    }

    /// <summary>A decoder's table as figures (its one exit-head median filed under <paramref name="vocab"/>).</summary>
    public static CalibrationCosts Read(DecodeCosts table, int layers, int maxRows, int vocab) => new()
    {
        Layers = layers,
        LayerByRows = [.. Enumerable.Range(1, maxRows).Select(table.Layer)],
        HeadByRows = [.. Enumerable.Range(1, maxRows).Select(table.Head)],
        ExitHead = new Dictionary<int, double> { [vocab] = table.ExitHead(table.HeadToLayerPrior) },
        Table = table,
    };

    /// <summary>A few exit-head calls of each size, sizes interleaved, on a state of the right width.</summary>
    private static void TimeExitHeads(Dictionary<int, CalibratedExitHead> heads, int[] layers, Dictionary<int, List<double>> samples, int d, int seed)
    {
        var rng = new Random(seed);
        var state = new float[d];
        for (int i = 0; i < d; i++) state[i] = (float)(rng.NextDouble() * 2 - 1);
        for (int rep = 0; rep < 5; rep++)
            foreach (var (n, h) in heads)
            {
                var buffer = new float[n];
                long t0 = Stopwatch.GetTimestamp();
                h.Logits(layers[rep % layers.Length], state, buffer);
                samples[n].Add(Stopwatch.GetElapsedTime(t0).TotalSeconds);
            }
    }

    private static double Median(List<double> values)
    {
        if (values.Count == 0) return 0;
        var sorted = values.Order().ToArray();
        int m = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[m] : (sorted[m - 1] + sorted[m]) / 2;
    }
}
