using SelfSpec.Decoding;

namespace SelfSpec.Calibration;

/// <summary>One point of the search grid.</summary>
internal sealed record SearchConfig(int VocabIndex, int[] LayerIndices, int AlphaIndex, float Tau, int MaxDrafts);

/// <summary>A configuration's simulated outcome on the held-out trajectories.</summary>
/// <param name="Rates">per exit layer: acceptance of fired drafts and fire rate, with every exit checked (the bound's priors)</param>
internal sealed record SearchOutcome(SearchConfig Config, double Speedup, double TokensPerRound, double DraftsPerRound,
    IReadOnlyDictionary<int, (double Accept, double Fire)> Rates);

/// <summary>
/// The parameter search's cost model (architecture.md 6): SpecBound rounds replayed on the held-out greedy trajectories. While
/// drafts are right, the rows' hidden states are exactly the recorded ones, so which exit fires and whether its draft
/// is accepted are known; after a wrong draft (rejected anyway) the following rows' recorded decisions stand in for
/// the cost of drafting on. A round is counted as the decoder runs it: the same staircase of batched calls as
/// <see cref="RoundRows.AdvanceTo"/> (catch-up, then verification), each priced from the decoder's own cost table by
/// batch size (<see cref="CalibrationCosts"/>), and, when gated, the same <see cref="PriceBound"/> deciding which exits
/// are checked, with the configuration's own rates as its priors, as the sidecar will give them. The grid is pruned
/// by this model; the best few are then confirmed by real decoding.
/// </summary>
internal static class ParameterSearch
{
    /// <param name="priors">the bound's priors for a gated replay (every check then asks the bound first); null = every exit is checked</param>
    public static SearchOutcome Simulate(ExitTable table, IReadOnlyList<(int Start, int Length)> trajectories, int[] argmax,
        SearchConfig cfg, CalibrationCosts cost, int modelLayers, ExitPriors? priors = null)
    {
        int vi = cfg.VocabIndex, ai = cfg.AlphaIndex;
        int[] li = cfg.LayerIndices;
        var costs = cost.ForVocabulary(table.VocabSizes[vi]);
        double exitHead = costs.ExitHead(0);
        double totalCost = 0, tokens = 0, rounds = 0, drafts = 0;
        var fired = new int[li.Length];
        var checks = new int[li.Length];
        var accepted = new int[li.Length];
        var depth = new int[cfg.MaxDrafts + 1];
        var draftLayer = new int[cfg.MaxDrafts];
        foreach (var (start, length) in trajectories)
        {
            // One generation: a fresh bound, as the decoder makes one per generation.
            var bound = priors != null ? new PriceBound(modelLayers, cfg.Tau, costs, priors) : null;
            int r = 0, round = 0;
            while (r < length)
            {
                if (bound != null)
                {
                    bound.Round = round;
                    bound.BeginRound();
                }
                round++;
                double c = 0;
                int rows = 1, good = 0;
                bool allRight = true;
                depth[0] = 0;
                for (int k = 0; k < cfg.MaxDrafts && r + k < length; k++)
                {
                    // Row k proposes the next draft: it climbs the exits (ExitDrafts.Propose).
                    int row = start + r + k;
                    int exit = -1;
                    for (int j = 0; j < li.Length; j++)
                    {
                        int layer = table.Layers[li[j]];
                        if (bound != null && !bound.ExitCheckWorthIt(layer)) continue;
                        c += Advance(depth, k, layer, costs) + exitHead;
                        bound?.ChargeExitCheck();
                        checks[j]++;
                        bool fires = table.Confidence[vi][li[j]][ai][row] >= cfg.Tau;
                        bound?.ObserveExitCheck(layer, fires);
                        if (fires) { exit = j; break; }
                    }
                    if (exit < 0) break;
                    int exitLayer = table.Layers[li[exit]];
                    bound?.AddExitDraft(exitLayer);
                    fired[exit]++;
                    draftLayer[k] = exitLayer;
                    depth[rows++] = 0;
                    drafts++;
                    bool right = table.Draft[vi][li[exit]][row] == argmax[table.Rows[row]];
                    if (allRight && right) { good++; accepted[exit]++; }
                    allRight &= right;
                }
                // Verification: every row to the last layer, then the final head over all rows.
                c += Advance(depth, rows - 1, modelLayers, costs) + costs.Head(rows);
                if (bound != null)
                    for (int i = 0; i < rows - 1 && i <= good; i++) bound.ObserveExitDraft(draftLayer[i], i < good);
                int committed = Math.Min(good + 1, length - r);
                tokens += committed;
                totalCost += c;
                rounds++;
                r += committed;
            }
        }
        double plain = tokens * cost.PlainToken;
        var rates = new Dictionary<int, (double, double)>();
        for (int j = 0; j < li.Length; j++)
            rates[table.Layers[li[j]]] = (fired[j] > 0 ? (double)accepted[j] / fired[j] : 0, checks[j] > 0 ? (double)fired[j] / checks[j] : 0);
        return new SearchOutcome(cfg, totalCost > 0 ? plain / totalCost : 1, rounds > 0 ? tokens / rounds : 1, rounds > 0 ? drafts / rounds : 0, rates);
    }

    /// <summary>
    /// The cost of bringing row j to <paramref name="target"/> as <see cref="RoundRows.AdvanceTo"/> does: the rows at
    /// row j's depth run together up to the next deeper row, which joins them, and so on; depths are updated.
    /// </summary>
    private static double Advance(int[] depth, int j, int target, DecodeCosts costs)
    {
        double seconds = 0;
        while (depth[j] < target)
        {
            int from = depth[j];
            int a = j;
            while (a > 0 && depth[a - 1] == from) a--;
            int to = a > 0 ? Math.Min(target, depth[a - 1]) : target;
            int n = j - a + 1;
            seconds += costs.Layer(n) * (to - from);
            for (int i = a; i <= j; i++) depth[i] = to;
        }
        return seconds;
    }

    /// <summary>Every configuration of the grid: subsets of up to <paramref name="maxLayers"/> candidate layers x alpha x tau x w_max x vocabulary size.</summary>
    public static IEnumerable<SearchConfig> Grid(ExitTable table, float[] taus, int[] maxDrafts, int maxLayers)
    {
        int nl = table.Layers.Length;
        var subsets = new List<int[]>();
        for (int mask = 1; mask < 1 << nl; mask++)
            if (System.Numerics.BitOperations.PopCount((uint)mask) <= maxLayers)
                subsets.Add(Enumerable.Range(0, nl).Where(i => (mask >> i & 1) != 0).ToArray());
        for (int vi = 0; vi < table.VocabSizes.Length; vi++)
            foreach (var s in subsets)
                for (int ai = 0; ai < table.Alphas.Length; ai++)
                    foreach (float tau in taus)
                        foreach (int w in maxDrafts)
                            yield return new SearchConfig(vi, s, ai, tau, w);
    }
}
