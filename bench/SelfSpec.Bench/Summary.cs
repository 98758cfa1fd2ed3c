namespace SelfSpec.Bench;

/// <summary>Per task and overall figures from the per-prompt runs. Ratios pair runs of the same prompt only.</summary>
internal static class Summary
{
    public const string Overall = "overall";

    public static List<MethodSummary> Build(IReadOnlyList<PromptRun> runs, IReadOnlyList<string> methods, long weightBytes)
    {
        var tasks = runs.Select(r => r.Task).Distinct()
            .OrderBy(t => Array.IndexOf(PromptSet.TaskOrder, t) is int i && i >= 0 ? i : int.MaxValue).ToList();
        var result = new List<MethodSummary>();
        foreach (string task in tasks.Prepend(Overall))
        {
            var inTask = runs.Where(r => task == Overall || r.Task == task).ToList();
            var byPrompt = inTask.GroupBy(r => r.Prompt).ToDictionary(g => g.Key, g => g.ToDictionary(r => r.Method));
            foreach (string method in methods)
            {
                var mine = inTask.Where(r => r.Method == method).ToList();
                if (mine.Count == 0) continue;
                result.Add(Summarize(task, method, mine, byPrompt, weightBytes));
            }
        }
        return result;
    }

    private static MethodSummary Summarize(string task, string method, List<PromptRun> mine,
        Dictionary<int, Dictionary<string, PromptRun>> byPrompt, long weightBytes)
    {
        double decodeSeconds = mine.Sum(r => r.DecodeSeconds);
        long decodeTokens = mine.Sum(r => (long)r.DecodeTokens);
        double prefillSeconds = mine.Sum(r => r.PrefillSeconds);
        long promptTokens = mine.Sum(r => (long)r.PromptTokens);
        double? tps = decodeSeconds > 0 ? decodeTokens / decodeSeconds : null;
        var histogram = new SortedDictionary<int, long>();
        foreach (var r in mine)
            foreach (var (layer, count) in r.ExitLayerHistogram)
                histogram[layer] = histogram.GetValueOrDefault(layer) + count;
        long drafted = mine.Sum(r => (long)r.Drafted), accepted = mine.Sum(r => (long)r.Accepted);
        long rounds = mine.Sum(r => (long)r.Rounds);
        var compared = mine.Where(r => r.EqualsAr != null).ToList();
        var bySource = new SortedDictionary<string, SourceAcceptance>(StringComparer.Ordinal);
        foreach (var r in mine)
            foreach (var (source, n) in r.DraftedBySource)
            {
                var sofar = bySource.GetValueOrDefault(source) ?? new SourceAcceptance(0, 0);
                bySource[source] = new SourceAcceptance(sofar.Drafted + n, sofar.Accepted + r.AcceptedBySource.GetValueOrDefault(source));
            }
        double? Share(Func<PromptRun, double> part) => decodeSeconds > 0 && mine.Any(r => part(r) > 0) ? mine.Sum(part) / decodeSeconds : null;
        var rhos = mine.Where(r => r.Rho > 0).Select(r => r.Rho).ToList();
        var stats = mine.Where(r => r.Stats != null && r.Stats.Method != SelfSpec.Decoding.DecodingMethod.Autoregressive).Select(r => r.Stats!).ToList();
        long statRounds = stats.Sum(st => (long)st.Rounds), draftRounds = stats.Sum(st => (long)st.RoundsWithDraft);
        var committedBySource = new SortedDictionary<string, double>(StringComparer.Ordinal);
        foreach (var source in stats.SelectMany(st => st.RoundsBySource.Keys).Distinct())
            committedBySource[source] = (double)stats.Sum(st => (long)st.CommittedBySource.GetValueOrDefault(source)) / stats.Sum(st => (long)st.RoundsBySource.GetValueOrDefault(source));
        return new MethodSummary
        {
            Task = task,
            Method = method,
            Prompts = mine.Count,
            DecodeTokens = decodeTokens,
            DecodeTokensPerSecond = tps,
            DecodeTokensPerSecondGeoMean = Finite(Stats.GeoMean(mine.Select(r => r.DecodeTokensPerSecond))),
            PrefillTokensPerSecond = prefillSeconds > 0 ? promptTokens / prefillSeconds : null,
            SpeedupOverAr = Ratio(mine, byPrompt, "ar", geo: false),
            SpeedupOverArGeoMean = Ratio(mine, byPrompt, "ar", geo: true),
            SpeedupOverLlamaCpp = Ratio(mine, byPrompt, "llamacpp", geo: false),
            SpeedupOverLlamaCppGeoMean = Ratio(mine, byPrompt, "llamacpp", geo: true),
            MeanAcceptedLength = rounds > 0 ? (double)decodeTokens / rounds : null,
            AcceptanceRate = drafted > 0 ? (double)accepted / drafted : null,
            Drafted = drafted,
            Accepted = accepted,
            ExitLayerHistogram = histogram,
            AcceptanceBySource = bySource,
            DraftShare = Share(r => r.DraftSeconds),
            VerifyShare = Share(r => r.VerifySeconds),
            HeadShare = Share(r => r.HeadSeconds),
            SamplingShare = Share(r => r.SamplingSeconds),
            MeanRho = rhos.Count > 0 ? rhos.Average() : null,
            DraftRoundShare = statRounds > 0 ? (double)draftRounds / statRounds : null,
            CommittedPerRoundBySource = committedBySource,
            ExactMatches = compared.Count(r => r.EqualsAr == true),
            ExactCompared = compared.Count,
            AchievedGBPerSecond = tps * weightBytes / 1e9,
        };
    }

    /// <summary>
    /// Decode speed relative to <paramref name="baseline"/> over the prompts both ran: total tokens/s over total
    /// tokens/s, or the geometric mean of per-prompt ratios.
    /// </summary>
    private static double? Ratio(List<PromptRun> mine, Dictionary<int, Dictionary<string, PromptRun>> byPrompt, string baseline, bool geo)
    {
        var pairs = mine.Where(r => byPrompt[r.Prompt].ContainsKey(baseline))
            .Select(r => (Mine: r, Base: byPrompt[r.Prompt][baseline])).ToList();
        if (pairs.Count == 0) return null;
        if (geo)
            return Finite(Stats.GeoMean(pairs.Select(p => p.Base.DecodeTokensPerSecond > 0 ? p.Mine.DecodeTokensPerSecond / p.Base.DecodeTokensPerSecond : double.NaN)));
        double mineSeconds = pairs.Sum(p => p.Mine.DecodeSeconds), baseSeconds = pairs.Sum(p => p.Base.DecodeSeconds);
        long mineTokens = pairs.Sum(p => (long)p.Mine.DecodeTokens), baseTokens = pairs.Sum(p => (long)p.Base.DecodeTokens);
        if (mineSeconds <= 0 || baseSeconds <= 0 || baseTokens == 0) return null;
        return mineTokens / mineSeconds / (baseTokens / baseSeconds);
    }

    private static double? Finite(double v) => double.IsFinite(v) ? v : null;
}
