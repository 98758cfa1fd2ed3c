namespace SelfSpec.Decoding;

/// <summary>
/// Settings of the speculative methods. Defaults start from measurements on small models: there the model's
/// own head at shallow layers is rarely right, so the candidate exits sit at 20-80% depth, a draft must be
/// confident after annealing, rounds are short, and the price bound decides whether drafting pays at all.
/// </summary>
public sealed record SpeculationOptions
{
    /// <summary>Annealing strength: T_l = 1 + Alpha (1 - l / L). 0 = no annealing.</summary>
    public float Alpha { get; init; } = 1f;
    /// <summary>Confidence threshold: a token exits at the first candidate layer with max softmax(logits / T_l) &gt;= Tau.</summary>
    public float Tau { get; init; } = 0.7f;
    /// <summary>A token that reaches this depth without exiting is difficult and stops drafting; 0 = 80% of the layers.</summary>
    public int MaxDepth { get; init; }
    /// <summary>
    /// Most drafts per round (w_max). The price bound chooses how many of them pay; 8 lets a long lookup match copy
    /// further (measured on SmolLM2-135M, dev questions: 8 drafted more per round than 4 where copies run long).
    /// </summary>
    public int MaxDrafts { get; init; } = 8;
    /// <summary>
    /// Most early-exit drafts per round (0: <see cref="MaxDrafts"/>). Calibration's w_max: it searches how far exit
    /// drafts pay, which says nothing of lookup copies, so a calibrated w_max of 2 must not cap hybrid's lookup copies
    /// at 2 (it did: a 1500-position calibration chose 2, and lookup and hybrid with that sidecar drafted at most 2).
    /// </summary>
    public int MaxExitDrafts { get; init; }
    /// <summary>Candidate exit layers, numbered 1..L-1 (exit after that many layers); empty = 20%, 40%, 60% and 80% of L.</summary>
    public IReadOnlyList<int> ExitLayers { get; init; } = [];
    /// <summary>Exit layer of the static method; 0 = half the layers.</summary>
    public int StaticExitLayer { get; init; }
    /// <summary>Drafts per round of the static method.</summary>
    public int StaticDraftLength { get; init; } = 3;
    /// <summary>
    /// Longest match prompt lookup measures (the longest match wins); the bound keeps acceptance per match length up
    /// to 8, so a long match, which is accepted more often, drafts further than a short one.
    /// </summary>
    public int LookupMaxNgram { get; init; } = 8;
    /// <summary>Shortest n-gram prompt lookup accepts (for the lookup method).</summary>
    public int LookupMinNgram { get; init; } = 1;
    /// <summary>
    /// Shortest n-gram match for which the hybrid method prefers a lookup draft over an early exit. 1: every match, as
    /// lookup alone drafts (the bound prices each by its match length's measured acceptance, and a declined one is
    /// left to the exit), so hybrid drafts at least where lookup does.
    /// </summary>
    public int HybridMinNgram { get; init; } = 1;
    /// <summary>
    /// The price bound: draft only while the expected committed tokens per second of continuing beat stopping
    /// (estimates of acceptance and timed costs, updated every round). Off = draft whenever the method's rules allow
    /// (used by tests to force drafting).
    /// </summary>
    public bool PriceBound { get; init; } = true;
    /// <summary>Test-only: the acceptance rule (a deliberately wrong one proves the losslessness test has teeth).</summary>
    internal AcceptanceRule Acceptance { get; init; } = AcceptanceRule.Speculative;

    public static SpeculationOptions Default { get; } = new();

    public void Validate()
    {
        if (!(Alpha >= 0f && Alpha <= 100f)) throw new InvalidRequestException($"alpha {Alpha} must be between 0 and 100");
        if (!(Tau >= 0f && Tau <= 1f)) throw new InvalidRequestException($"tau {Tau} must be between 0 and 1");
        if (MaxDepth < 0) throw new InvalidRequestException($"d-max {MaxDepth} must be 0 (default) or positive");
        if (MaxDrafts < 1 || MaxDrafts > 63) throw new InvalidRequestException($"w-max {MaxDrafts} must be between 1 and 63");
        if (MaxExitDrafts < 0 || MaxExitDrafts > 63) throw new InvalidRequestException($"exit w-max {MaxExitDrafts} must be between 0 (w-max) and 63");
        foreach (int l in ExitLayers)
            if (l < 1) throw new InvalidRequestException($"exit layer {l} must be at least 1");
        if (StaticExitLayer < 0) throw new InvalidRequestException($"static exit layer {StaticExitLayer} must be 0 (default) or positive");
        if (StaticDraftLength < 1 || StaticDraftLength > 63) throw new InvalidRequestException($"static draft length {StaticDraftLength} must be between 1 and 63");
        if (LookupMinNgram < 1 || LookupMaxNgram < LookupMinNgram || LookupMaxNgram > 8)
            throw new InvalidRequestException($"lookup n-gram sizes {LookupMinNgram}..{LookupMaxNgram} must satisfy 1 <= min <= max <= 8");
        if (HybridMinNgram < 1 || HybridMinNgram > 8) throw new InvalidRequestException($"hybrid minimum n-gram {HybridMinNgram} must be between 1 and 8");
    }

    /// <summary>Checks the layer numbers against a model of <paramref name="layers"/> layers.</summary>
    public void ValidateFor(int layers)
    {
        Validate();
        foreach (int l in ExitLayers)
            if (l >= layers) throw new InvalidRequestException($"exit layer {l} must be below the model's {layers} layers (1..{layers - 1})");
        if (StaticExitLayer >= layers) throw new InvalidRequestException($"static exit layer {StaticExitLayer} must be below the model's {layers} layers (1..{layers - 1})");
        if (MaxDepth > layers) throw new InvalidRequestException($"d-max {MaxDepth} must not exceed the model's {layers} layers");
    }

    /// <summary>The candidate exit layers for a model of <paramref name="layers"/> layers, ascending, each in 1..layers-1.</summary>
    public int[] ResolveExitLayers(int layers)
    {
        IEnumerable<int> chosen = ExitLayers.Count > 0
            ? ExitLayers
            : new[] { 0.2, 0.4, 0.6, 0.8 }.Select(f => (int)Math.Round(f * layers));
        return chosen.Where(l => l >= 1 && l < layers).Distinct().Order().ToArray();
    }

    /// <summary>Most early-exit drafts in a round: <see cref="MaxExitDrafts"/>, at most <see cref="MaxDrafts"/>.</summary>
    public int ResolveMaxExitDrafts() => MaxExitDrafts > 0 ? Math.Min(MaxExitDrafts, MaxDrafts) : MaxDrafts;

    public int ResolveMaxDepth(int layers) => MaxDepth > 0 ? Math.Min(MaxDepth, layers) : Math.Max(1, (int)Math.Round(0.8 * layers));

    public int ResolveStaticExitLayer(int layers) => Math.Clamp(StaticExitLayer > 0 ? StaticExitLayer : layers / 2, 1, Math.Max(1, layers - 1));
}

/// <summary>How drafts are accepted. Only <see cref="Speculative"/> is correct; the other exists for tests.</summary>
internal enum AcceptanceRule
{
    /// <summary>Greedy: draft equals the target's choice. Sampling: accept with min(1, p/q), else resample the residual.</summary>
    Speculative,
    /// <summary>Wrong on purpose: every draft is accepted.</summary>
    AlwaysAccept,
    /// <summary>Wrong on purpose, yet never leaves p's support: a rejection resamples from p instead of norm(max(0, p - q)).</summary>
    ResampleFromP,
}
