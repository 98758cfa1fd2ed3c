namespace SelfSpec.Calibration;

/// <summary>Timed costs of the engine's calls on this machine, in seconds.</summary>
internal sealed record CostModel(double LayerRead, double ExtraRow, double Head, double ExtraHeadRow, IReadOnlyDictionary<int, double> ExitHead)
{
    /// <summary>One autoregressive token: every layer for one row and the final head.</summary>
    public double PlainToken(int layers) => layers * LayerRead + Head;

    /// <summary>What a draft row adds when it starts below a row at <paramref name="parentDepth"/> (the price bound's account).</summary>
    public double RowCost(int parentDepth, int layers) => parentDepth * LayerRead + (layers - parentDepth) * ExtraRow + ExtraHeadRow;
}

/// <summary>One point of the search grid.</summary>
internal sealed record SearchConfig(int VocabIndex, int[] LayerIndices, int AlphaIndex, float Tau, int MaxDrafts);

/// <summary>A configuration's simulated outcome on the held-out trajectories.</summary>
internal sealed record SearchOutcome(SearchConfig Config, double Speedup, double TokensPerRound, double DraftsPerRound,
    IReadOnlyDictionary<int, (double Accept, double Fire)> Rates);

/// <summary>
/// The parameter search's cost model (architecture.md 6): SpecBound rounds replayed on the held-out greedy trajectories. While
/// drafts are right, the rows' hidden states are exactly the recorded ones, so which exit fires and whether its draft
/// is accepted are known; after a wrong draft (rejected anyway) the following rows' recorded decisions stand in for
/// the cost of drafting on. Costs come from timed calls (<see cref="CostModel"/>), counted as the price bound does.
/// The grid is pruned by this model; the best few are then confirmed by real decoding.
/// </summary>
internal static class ParameterSearch
{
    public static SearchOutcome Simulate(ExitTable table, IReadOnlyList<(int Start, int Length)> trajectories, int[] argmax,
        SearchConfig cfg, CostModel cost, int modelLayers)
    {
        int vi = cfg.VocabIndex, ai = cfg.AlphaIndex;
        int[] li = cfg.LayerIndices;
        double headCost = cost.ExitHead[table.VocabSizes[vi]];
        double totalCost = 0, tokens = 0, rounds = 0, drafts = 0;
        var fired = new int[li.Length];
        var checks = new int[li.Length];
        var accepted = new int[li.Length];
        foreach (var (start, length) in trajectories)
        {
            int r = 0;
            while (r < length)
            {
                double c = cost.PlainToken(modelLayers);
                int good = 0;
                bool allRight = true;
                int parentDepth = 0;
                for (int k = 0; k < cfg.MaxDrafts && r + k < length; k++)
                {
                    int row = start + r + k;
                    int exit = -1;
                    for (int j = 0; j < li.Length; j++)
                    {
                        c += headCost;
                        checks[j]++;
                        if (table.Confidence[vi][li[j]][ai][row] >= cfg.Tau) { exit = j; break; }
                    }
                    if (exit < 0) break;
                    fired[exit]++;
                    int layer = table.Layers[li[exit]];
                    c += cost.RowCost(Math.Max(parentDepth, 0), modelLayers);
                    parentDepth = layer;
                    drafts++;
                    bool right = table.Draft[vi][li[exit]][row] == argmax[table.Rows[row]];
                    if (allRight && right) { good++; accepted[exit]++; }
                    allRight &= right;
                }
                int committed = Math.Min(good + 1, length - r);
                tokens += committed;
                totalCost += c;
                rounds++;
                r += committed;
            }
        }
        double plain = tokens * cost.PlainToken(modelLayers);
        var rates = new Dictionary<int, (double, double)>();
        for (int j = 0; j < li.Length; j++)
            rates[table.Layers[li[j]]] = (fired[j] > 0 ? (double)accepted[j] / fired[j] : 0, checks[j] > 0 ? (double)fired[j] / checks[j] : 0);
        return new SearchOutcome(cfg, totalCost > 0 ? plain / totalCost : 1, rounds > 0 ? tokens / rounds : 1, rounds > 0 ? drafts / rounds : 0, rates);
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
