using System.Text.Json.Serialization;

namespace SelfSpec.Decoding;

/// <summary>
/// Statistics of one generation: counts, acceptance, the exit-layer histogram, the draft source of every accepted
/// token, the time split and the price bound's cost table. Serialized by <see cref="SelfSpecJsonContext"/> (snake_case,
/// rates and times rounded) for the command line, the benchmark and the server alike.
/// </summary>
public sealed class DecodeStats
{
    [JsonPropertyOrder(-10)]
    [JsonConverter(typeof(DecodingMethodNameConverter))]
    public DecodingMethod Method { get; init; }
    /// <summary>The calibration sidecar the model used, or null.</summary>
    [JsonPropertyOrder(-9)]
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public string? Sidecar { get; set; }
    public int PromptTokens { get; set; }
    /// <summary>Prompt tokens computed by this generation's prefill: the rest were already in the session's cache.</summary>
    public int PrefillTokens { get; set; }
    /// <summary>Prompt tokens reused from the session's cache (not computed again).</summary>
    public int CachedPromptTokens => PromptTokens - PrefillTokens;
    public int GeneratedTokens { get; set; }
    [JsonIgnore]
    public double PrefillSeconds { get; set; }
    [JsonIgnore]
    public double DecodeSeconds { get; set; }
    /// <summary>Verification passes (for autoregressive decoding: one per generated token after the first).</summary>
    public int Rounds { get; set; }
    public int Drafted { get; set; }
    public int Accepted { get; set; }
    /// <summary>Layer-rows computed during decoding (a row through one layer counts one).</summary>
    public long LayerRows { get; set; }
    /// <summary>Drafts produced at each exit layer (1..L-1).</summary>
    public SortedDictionary<int, int> ExitLayerHistogram { get; } = [];
    /// <summary>Rounds whose drafting stopped at a difficult token (no candidate exit up to d_max fired).</summary>
    public int DifficultStops { get; set; }
    /// <summary>Exit-head evaluations during drafting.</summary>
    public int ExitHeadCalls { get; set; }
    /// <summary>Drafts by source ("layer 12", "lookup").</summary>
    public SortedDictionary<string, int> DraftedBySource { get; } = new(StringComparer.Ordinal);
    /// <summary>Accepted drafts by source ("layer 12", "lookup").</summary>
    public SortedDictionary<string, int> AcceptedBySource { get; } = new(StringComparer.Ordinal);
    /// <summary>Decode time in forward passes while drafting (catch-up included).</summary>
    [JsonIgnore]
    public double DraftSeconds { get; set; }
    /// <summary>Decode time in the verification pass: the staircase forward and the final head.</summary>
    [JsonIgnore]
    public double VerifySeconds { get; set; }
    /// <summary>Decode time in exit heads.</summary>
    [JsonIgnore]
    public double HeadSeconds { get; set; }
    /// <summary>Measured cost of one extra row through a layer relative to a one-row layer call (rho); 0 when not measured.</summary>
    public double Rho { get; set; }
    /// <summary>
    /// The price bound's cost table at the end of the generation (timed on this machine, kept across the model's
    /// generations): milliseconds per layer of a forward call of 1, 2, ... rows, and of the final head over as many rows.
    /// Empty for autoregressive decoding.
    /// </summary>
    [JsonIgnore]
    public double[] LayerMillisecondsByRows { get; set; } = [];
    [JsonIgnore]
    public double[] HeadMillisecondsByRows { get; set; } = [];
    /// <summary>
    /// A verification pass (every layer and the final head, from the cost table) over n = 1, 2, ... rows relative to a
    /// one-row pass. Empty for autoregressive decoding.
    /// </summary>
    [JsonIgnore]
    public double[] PassCostByRows { get; set; } = [];
    /// <summary>What one row adds to a pass of n = 2, 3, ... rows, relative to a one-row pass: (PassCostByRows[n] - 1) / (n - 1).</summary>
    [JsonIgnore]
    public double[] ExtraRowCostByRows => [.. PassCostByRows.Skip(1).Select((c, i) => (c - 1) / (i + 1))];
    /// <summary>Rounds that verified at least one draft.</summary>
    public int RoundsWithDraft { get; set; }
    /// <summary>Rounds by the source of their first draft ("layer 12", "lookup").</summary>
    public SortedDictionary<string, int> RoundsBySource { get; } = new(StringComparer.Ordinal);
    /// <summary>Tokens committed (accepted drafts and the verified next token) by rounds whose first draft came from each source.</summary>
    public SortedDictionary<string, int> CommittedBySource { get; } = new(StringComparer.Ordinal);
    /// <summary>Share of rounds that had a draft.</summary>
    [JsonIgnore]
    public double DraftRoundShare => Rounds > 0 ? (double)RoundsWithDraft / Rounds : 0;
    /// <summary>Tokens committed per round, by the source of the round's first draft ("none": rounds without a draft, 1 each).</summary>
    [JsonIgnore]
    public SortedDictionary<string, double> CommittedPerRoundBySource
    {
        get
        {
            var d = new SortedDictionary<string, double>(StringComparer.Ordinal);
            foreach (var (source, rounds) in RoundsBySource)
                if (rounds > 0) d[source] = (double)CommittedBySource.GetValueOrDefault(source) / rounds;
            if (Rounds > RoundsWithDraft) d["none"] = 1;
            return d;
        }
    }

    /// <summary>
    /// The decode time the cost table predicts for this generation's forward and head calls, at the table's costs when
    /// each call was made (layers, final heads and exit heads; no sampling or search): with a fixed table, a measure of
    /// the drafting policy that this machine's noise cannot move.
    /// </summary>
    [JsonIgnore]
    internal double PredictedSeconds { get; set; }

    /// <summary>Decode time choosing, accepting and resampling tokens.</summary>
    [JsonIgnore]
    public double SamplingSeconds { get; set; }

    [JsonIgnore]
    public double PrefillTokensPerSecond => PrefillSeconds > 0 ? PrefillTokens / PrefillSeconds : 0;
    /// <summary>Tokens produced by the decode loop per second (the first token comes from prefill and is excluded).</summary>
    [JsonIgnore]
    public double DecodeTokensPerSecond => DecodeSeconds > 0 ? Math.Max(0, GeneratedTokens - 1) / DecodeSeconds : 0;
    /// <summary>Tokens committed per verification pass.</summary>
    [JsonIgnore]
    public double MeanAcceptedLength => Rounds > 0 ? (double)Math.Max(0, GeneratedTokens - 1) / Rounds : 0;
    [JsonIgnore]
    public double AcceptanceRate => Drafted > 0 ? (double)Accepted / Drafted : 0;

    [JsonInclude, JsonPropertyName("prefill_tokens_per_s")] internal double PrefillTokensPerSecondRounded => Math.Round(PrefillTokensPerSecond, 2);
    [JsonInclude, JsonPropertyName("decode_tokens_per_s")] internal double DecodeTokensPerSecondRounded => Math.Round(DecodeTokensPerSecond, 2);
    [JsonInclude, JsonPropertyName("mean_accepted_length")] internal double MeanAcceptedLengthRounded => Math.Round(MeanAcceptedLength, 4);
    [JsonInclude, JsonPropertyName("acceptance_rate")] internal double AcceptanceRateRounded => Math.Round(AcceptanceRate, 4);
    [JsonInclude, JsonPropertyName("cost_ms")] internal CostTable CostMilliseconds => new(LayerMillisecondsByRows, HeadMillisecondsByRows);
    [JsonInclude, JsonPropertyName("row_cost")] internal RowCost RowCosts => new([.. PassCostByRows.Select(c => Math.Round(c, 4))], [.. ExtraRowCostByRows.Select(c => Math.Round(c, 4))]);
    [JsonInclude, JsonPropertyName("draft_round_share")] internal double DraftRoundShareRounded => Math.Round(DraftRoundShare, 4);
    [JsonInclude, JsonPropertyName("committed_per_round_by_source")] internal SortedDictionary<string, double> CommittedPerRoundBySourceRounded =>
        new(CommittedPerRoundBySource.ToDictionary(e => e.Key, e => Math.Round(e.Value, 4)), StringComparer.Ordinal);
    [JsonInclude, JsonPropertyName("time_s")] internal TimeSplit Times => new(Math.Round(PrefillSeconds, 6), Math.Round(DecodeSeconds, 6),
        Math.Round(DraftSeconds, 6), Math.Round(VerifySeconds, 6), Math.Round(HeadSeconds, 6), Math.Round(SamplingSeconds, 6));

    /// <summary>The cost table as serialized: milliseconds per layer and per final head call, by rows.</summary>
    public sealed record CostTable(double[] LayerByRows, double[] HeadByRows);

    /// <summary>
    /// The price of rows as serialized: a pass over n = 1, 2, ... rows relative to a one-row pass, and what each row
    /// beyond the first adds (n = 2, 3, ...), both from the cost table.
    /// </summary>
    public sealed record RowCost(double[] PassByRows, double[] ExtraRowByRows);

    /// <summary>The time split as serialized, in seconds.</summary>
    public sealed record TimeSplit(double Prefill, double Decode, double Draft, double Verify, double Heads, double Sampling);
}
