using SelfSpec.Decoding;

namespace SelfSpec.Calibration;

/// <summary>
/// What <see cref="LanguageModel.Calibrate"/> found (docs/architecture.md, calibration): the data, the fitted exits
/// on held-out positions, the draft vocabularies, the timed costs, and the shortlisted settings with their real speed.
/// The chosen settings are in use on the model once it returns; <see cref="WriteSidecar"/> keeps them for later loads.
/// </summary>
public sealed record CalibrationReport
{
    /// <summary>Positions recorded.</summary>
    public required int Positions { get; init; }
    public required int TrainPositions { get; init; }
    public required int ValidationPositions { get; init; }
    public required int TestPositions { get; init; }
    /// <summary>Prompts whose greedy output was recorded.</summary>
    public required int Prompts { get; init; }
    /// <summary>Bytes of recorded data.</summary>
    public required long DataBytes { get; init; }
    /// <summary>Held-out agreement by candidate exit layer.</summary>
    public required IReadOnlyList<LayerReport> Layers { get; init; }
    /// <summary>Draft vocabulary sizes: coverage, agreement and the exit head's cost.</summary>
    public required IReadOnlyList<VocabReport> Vocab { get; init; }
    /// <summary>The calls' costs the search counted with.</summary>
    public required CalibrationCosts Costs { get; init; }
    /// <summary>
    /// The model's own cost table after the confirming generations (what the decoder's price bound read there), to
    /// set beside <see cref="Costs"/>: its one exit-head figure, filed under the chosen draft vocabulary, mixes every candidate confirmed.
    /// </summary>
    public required CalibrationCosts DecoderCosts { get; init; }
    /// <summary>The shortlisted settings, confirmed by real decoding.</summary>
    public required IReadOnlyList<ConfirmReport> Confirmed { get; init; }
    /// <summary>The confirmed settings with the best real speed-up (one of <see cref="Confirmed"/>).</summary>
    public required ConfirmReport Chosen { get; init; }
    /// <summary>Seconds by stage, in order.</summary>
    public required IReadOnlyDictionary<string, double> StageSeconds { get; init; }

    /// <summary>The model file calibrated.</summary>
    internal string ModelPath { get; init; } = "";
    internal List<SearchOutcome> TopSimulated { get; init; } = [];
    internal SidecarContents Sidecar { get; init; } = null!;

    /// <summary>
    /// Writes the chosen settings, exit heads and priors to a sidecar (replaced atomically), which
    /// <see cref="LanguageModel.Load(string, ModelLoadOptions)"/> then finds by itself; returns the path written.
    /// </summary>
    /// <param name="path">the sidecar file; null = <c>MODEL.gguf.selfspec</c> beside the model</param>
    /// <param name="summary">free text kept in the sidecar for people (e.g. this report as JSON)</param>
    public string WriteSidecar(string? path = null, string? summary = null)
    {
        path ??= Calibration.Sidecar.PathFor(ModelPath);
        Calibration.Sidecar.Write(path, Sidecar with { Summary = summary ?? "" });
        return path;
    }
}

/// <summary>One candidate exit layer, on held-out (test) positions; <see cref="Lambda"/> and the KL figures on validation positions.</summary>
/// <param name="Layer">exit after this many layers</param>
/// <param name="Before">agreement of the model's own head with the final greedy token</param>
/// <param name="Ridge">agreement after the ridge translator</param>
/// <param name="Distilled">agreement after distillation</param>
/// <param name="Lambda">the ridge penalty chosen, relative to the states' mean variance</param>
/// <param name="KlRidge">validation KL of the ridge translator</param>
/// <param name="KlDistilled">validation KL after distillation</param>
/// <param name="Steps">distillation steps taken</param>
/// <param name="Seconds">distillation seconds</param>
public sealed record LayerReport(int Layer, double Before, double Ridge, double Distilled, double Lambda, double KlRidge, double KlDistilled, int Steps, double Seconds);

/// <summary>One draft vocabulary size.</summary>
/// <param name="Size">tokens in the draft vocabulary (the most frequent final tokens)</param>
/// <param name="Coverage">share of held-out final tokens it holds</param>
/// <param name="Agreement">held-out agreement of the distilled exits, mean over layers</param>
/// <param name="HeadMilliseconds">one exit-head call</param>
/// <param name="CostSaved">1 - exit head / full head over one row</param>
public sealed record VocabReport(int Size, double Coverage, double Agreement, double HeadMilliseconds, double CostSaved);

/// <summary>One shortlisted setting: its simulated speed-up and real decoding on test prompts beside plain decoding.</summary>
/// <param name="Label">its rank in the shortlist, e.g. <c>#1</c></param>
/// <param name="Spec">the speculation settings</param>
/// <param name="Vocab">the draft vocabulary size</param>
/// <param name="EstimatedSpeedup">the search's simulated speed-up of specbound over plain decoding</param>
/// <param name="ArTokensPerSecond">plain decoding, same prompts</param>
/// <param name="SpecBoundTokensPerSecond">specbound with these settings</param>
/// <param name="HybridTokensPerSecond">hybrid with these settings</param>
public sealed record ConfirmReport(string Label, SpeculationOptions Spec, int Vocab, double EstimatedSpeedup, double ArTokensPerSecond,
    double SpecBoundTokensPerSecond, double HybridTokensPerSecond)
{
    /// <summary>The geometric mean of the two methods' real speed-ups over plain decoding (what the choice maximizes).</summary>
    public double Score => Math.Sqrt(SpecBoundTokensPerSecond / ArTokensPerSecond * (HybridTokensPerSecond / ArTokensPerSecond));
}
