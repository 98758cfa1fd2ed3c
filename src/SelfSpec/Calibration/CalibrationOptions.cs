namespace SelfSpec.Calibration;

/// <summary>
/// How <see cref="LanguageModel.Calibrate"/> runs (docs/architecture.md, calibration): how much greedy output to
/// record, which exits to fit, how long to distil. The search grid's finer settings are fixed by the library.
/// </summary>
public sealed record CalibrationOptions
{
    /// <summary>Positions to record (1,000..2,000,000; memory: about 8 KB each with 7 candidate layers).</summary>
    public int Positions { get; init; } = 30_000;
    /// <summary>Greedy tokens generated per prompt (1..4096).</summary>
    public int MaxNewTokens { get; init; } = 160;
    /// <summary>Candidate exit layers whose states are recorded and fitted; null = <see cref="LayerFractions"/> of the model's depth.</summary>
    public IReadOnlyList<int>? Layers { get; init; }
    /// <summary>Distillation's wall-clock budget in seconds for all layers together (0..86,400).</summary>
    public double DistillSeconds { get; init; } = 150;
    /// <summary>A JSONL prompt file (<see cref="PromptFile"/>); null = the built-in mixed set.</summary>
    public string? PromptsPath { get; init; }

    /// <summary>
    /// Default candidate exits as fractions of depth: from 2/15 to 2/3 (layers 4, 6, 8, 10, 12, 16, 20 of a 30-layer
    /// model), denser where shallow exits are cheap, none in the last third where an exit saves too little.
    /// </summary>
    internal double[] LayerFractions { get; init; } = [2.0 / 15, 1.0 / 5, 4.0 / 15, 1.0 / 3, 2.0 / 5, 8.0 / 15, 2.0 / 3];
    /// <summary>Draft vocabulary the translators are distilled on.</summary>
    internal int TrainVocab { get; init; } = 4096;
    /// <summary>Draft vocabulary sizes reported.</summary>
    internal int[] VocabSizes { get; init; } = [1024, 2048, 4096, 8192];
    /// <summary>Draft vocabulary sizes searched (each costs the search a pass of exponentials over held-out rows).</summary>
    internal int[] SearchVocabSizes { get; init; } = [1024, 2048, 4096];
    internal double[] RidgeLambdas { get; init; } = [1e-4, 1e-3, 1e-2, 1e-1];
    internal float[] Alphas { get; init; } = [0f, 0.5f, 1f, 2f, 4f];
    internal float[] Taus { get; init; } = [0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f, 0.8f, 0.9f];
    internal int[] MaxDrafts { get; init; } = [2, 3, 4, 6];
    internal int MaxExitLayers { get; init; } = 3;
    internal int DistillSteps { get; init; } = 400;
    internal int ConfirmCandidates { get; init; } = 3;
    internal int ConfirmPrompts { get; init; } = 4;
    internal int ConfirmTokens { get; init; } = 128;
    /// <summary>Tokens of each timing generation (<see cref="CostTiming"/>).</summary>
    internal int TimingTokens { get; init; } = 48;
    /// <summary>Worker threads of the fitting stages; set from the model's thread count.</summary>
    internal int Threads { get; init; } = 1;

    /// <summary>Checks the settings; throws <see cref="InvalidRequestException"/> naming the first bad one.</summary>
    public void Validate()
    {
        if (Positions < 1000 || Positions > 2_000_000) throw new InvalidRequestException($"positions {Positions} must be between 1000 and 2000000");
        if (MaxNewTokens < 1 || MaxNewTokens > 4096) throw new InvalidRequestException($"max new tokens {MaxNewTokens} must be between 1 and 4096");
        if (!(DistillSeconds >= 0 && DistillSeconds <= 86_400)) throw new InvalidRequestException($"distill seconds {DistillSeconds} must be between 0 and 86400");
        if (Layers != null)
            foreach (int l in Layers)
                if (l < 1) throw new InvalidRequestException($"candidate exit layer {l} must be at least 1");
    }

    /// <summary>Checks the settings against a model of <paramref name="layerCount"/> layers.</summary>
    internal void ValidateFor(int layerCount)
    {
        Validate();
        if (Layers != null)
            foreach (int l in Layers)
                if (l >= layerCount) throw new InvalidRequestException($"candidate exit layer {l} must be below the model's {layerCount} layers (1..{layerCount - 1})");
    }

    /// <summary>The candidate exit layers for a model of <paramref name="layerCount"/> layers, ascending, each in 1..layerCount-1.</summary>
    internal int[] ResolveLayers(int layerCount) =>
        (Layers ?? [.. LayerFractions.Select(f => (int)Math.Round(f * layerCount))]).Where(l => l >= 1 && l < layerCount).Distinct().Order().ToArray();
}

/// <summary>Where a calibration stands: what it is doing and the fraction of the whole run done (0..1).</summary>
/// <param name="Step">the stage, then after a colon what in it, e.g. <c>distilling: layer 8</c></param>
/// <param name="Fraction">0..1</param>
public readonly record struct CalibrationProgress(string Step, double Fraction)
{
    /// <summary>The stage's name: <see cref="Step"/> up to its first colon.</summary>
    public string Stage => Step.Split(':')[0];
}
