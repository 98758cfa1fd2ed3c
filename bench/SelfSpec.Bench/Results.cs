namespace SelfSpec.Bench;

/// <summary>One (prompt, method) generation as measured.</summary>
internal sealed record PromptRun
{
    public required int Prompt { get; init; }
    public required string Id { get; init; }
    public required string Task { get; init; }
    public required string Method { get; init; }
    public required int PromptTokens { get; init; }
    public required int[] Output { get; init; }
    public required string Finish { get; init; }
    public required double PrefillSeconds { get; init; }
    public required double DecodeSeconds { get; init; }
    /// <summary>Verification passes (for llama.cpp, one per decoded token).</summary>
    public required int Rounds { get; init; }
    public int Drafted { get; init; }
    public int Accepted { get; init; }
    public IReadOnlyDictionary<int, int> ExitLayerHistogram { get; init; } = new Dictionary<int, int>();
    /// <summary>Drafts and accepted drafts by source ("lookup", "layer 12").</summary>
    public IReadOnlyDictionary<string, int> DraftedBySource { get; init; } = new Dictionary<string, int>();
    public IReadOnlyDictionary<string, int> AcceptedBySource { get; init; } = new Dictionary<string, int>();
    /// <summary>Where decode time went (SelfSpec's methods): drafting forwards, verification (forward + final head), exit heads, sampling.</summary>
    public double DraftSeconds { get; init; }
    public double VerifySeconds { get; init; }
    public double HeadSeconds { get; init; }
    public double SamplingSeconds { get; init; }
    /// <summary>Measured cost of a second row through a layer relative to a one-row layer call (0 when not measured).</summary>
    public double Rho { get; init; }
    /// <summary>The price bound's cost table after this run: ms per layer of a call of 1, 2, ... rows; ms of the final head.</summary>
    public double[] LayerMsByRows { get; init; } = [];
    public double[] HeadMsByRows { get; init; } = [];
    /// <summary>Greedy output identical, token for token, to <c>ar</c>'s on the same prompt (null without an <c>ar</c> run).</summary>
    public bool? EqualsAr { get; set; }
    /// <summary>The library's statistics of the run, in their one JSON form (null for llama.cpp).</summary>
    public SelfSpec.Decoding.DecodeStats? Stats { get; init; }

    public int Generated => Output.Length;
    /// <summary>Tokens produced by the decode loop (the first comes from prefill), as <c>DecodeStats</c> counts them.</summary>
    public int DecodeTokens => Math.Max(0, Output.Length - 1);
    public double DecodeTokensPerSecond => DecodeSeconds > 0 ? DecodeTokens / DecodeSeconds : 0;
}

/// <summary>How the drafts of one source fared.</summary>
internal sealed record SourceAcceptance(long Drafted, long Accepted)
{
    public double Rate => Drafted > 0 ? (double)Accepted / Drafted : 0;
}

/// <summary>A task's (or the overall) figures for one method.</summary>
internal sealed record MethodSummary
{
    public required string Task { get; init; }
    public required string Method { get; init; }
    public required int Prompts { get; init; }
    public required long DecodeTokens { get; init; }
    /// <summary>Total decode tokens / total decode seconds.</summary>
    public double? DecodeTokensPerSecond { get; init; }
    /// <summary>Geometric mean of per-prompt decode tokens/s.</summary>
    public double? DecodeTokensPerSecondGeoMean { get; init; }
    public double? PrefillTokensPerSecond { get; init; }
    /// <summary>Ratio of total decode tokens/s to <c>ar</c>'s over the same prompts.</summary>
    public double? SpeedupOverAr { get; init; }
    /// <summary>Geometric mean over prompts of the per-prompt decode tokens/s ratio to <c>ar</c>.</summary>
    public double? SpeedupOverArGeoMean { get; init; }
    public double? SpeedupOverLlamaCpp { get; init; }
    public double? SpeedupOverLlamaCppGeoMean { get; init; }
    /// <summary>Tokens committed per verification pass.</summary>
    public double? MeanAcceptedLength { get; init; }
    public double? AcceptanceRate { get; init; }
    public long Drafted { get; init; }
    public long Accepted { get; init; }
    public required SortedDictionary<int, long> ExitLayerHistogram { get; init; }
    /// <summary>Per draft source: drafts, accepted drafts, acceptance rate.</summary>
    public required SortedDictionary<string, SourceAcceptance> AcceptanceBySource { get; init; }
    /// <summary>Shares of decode time: drafting forwards, verification, exit heads, sampling; the rest is bookkeeping.</summary>
    public double? DraftShare { get; init; }
    public double? VerifyShare { get; init; }
    public double? HeadShare { get; init; }
    public double? SamplingShare { get; init; }
    /// <summary>Share of rounds that verified at least one draft (SelfSpec's speculative methods).</summary>
    public double? DraftRoundShare { get; init; }
    /// <summary>Tokens committed per round by the source of the round's first draft ("none": rounds without a draft).</summary>
    public SortedDictionary<string, double> CommittedPerRoundBySource { get; init; } = new(StringComparer.Ordinal);
    /// <summary>Mean over prompts of the measured rho (second row / one-row layer cost), where measured.</summary>
    public double? MeanRho { get; init; }
    /// <summary>Prompts whose greedy output equals <c>ar</c>'s, out of those compared.</summary>
    public int ExactMatches { get; init; }
    public int ExactCompared { get; init; }
    /// <summary>Weight bytes x decode tokens/s: the bandwidth a one-read-per-token decoder would need.</summary>
    public double? AchievedGBPerSecond { get; init; }
}
