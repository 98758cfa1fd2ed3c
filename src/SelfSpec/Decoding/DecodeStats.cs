namespace SelfSpec.Decoding;

/// <summary>Statistics of one generation (DESIGN 4, "Statistics").</summary>
public sealed class DecodeStats
{
    public DecodingMethod Method { get; init; }
    public int PromptTokens { get; set; }
    /// <summary>Prompt tokens computed by this generation's prefill: the rest were already in the session's cache.</summary>
    public int PrefillTokens { get; set; }
    /// <summary>Prompt tokens reused from the session's cache (not computed again).</summary>
    public int CachedPromptTokens => PromptTokens - PrefillTokens;
    public int GeneratedTokens { get; set; }
    public double PrefillSeconds { get; set; }
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
    public double DraftSeconds { get; set; }
    /// <summary>Decode time in the verification pass: the staircase forward and the final head.</summary>
    public double VerifySeconds { get; set; }
    /// <summary>Decode time in exit heads.</summary>
    public double HeadSeconds { get; set; }
    /// <summary>Measured cost of one extra row through a layer relative to a one-row layer call (rho of EVIDENCE 5); 0 when not measured.</summary>
    public double Rho { get; set; }
    /// <summary>
    /// The price bound's cost table at the end of the generation (timed on this machine, kept across the model's
    /// generations): milliseconds per layer of a forward call of 1, 2, ... rows, and of the final head over as many rows.
    /// Empty for autoregressive decoding.
    /// </summary>
    public double[] LayerMillisecondsByRows { get; set; } = [];
    public double[] HeadMillisecondsByRows { get; set; } = [];
    /// <summary>Decode time choosing, accepting and resampling tokens.</summary>
    public double SamplingSeconds { get; set; }

    public double PrefillTokensPerSecond => PrefillSeconds > 0 ? PrefillTokens / PrefillSeconds : 0;
    /// <summary>Tokens produced by the decode loop per second (the first token comes from prefill and is excluded).</summary>
    public double DecodeTokensPerSecond => DecodeSeconds > 0 ? Math.Max(0, GeneratedTokens - 1) / DecodeSeconds : 0;
    /// <summary>Tokens committed per verification pass.</summary>
    public double MeanAcceptedLength => Rounds > 0 ? (double)Math.Max(0, GeneratedTokens - 1) / Rounds : 0;
    public double AcceptanceRate => Drafted > 0 ? (double)Accepted / Drafted : 0;
}
