using SelfSpec.Sampling;

namespace SelfSpec.Decoding;

/// <summary>What to generate and how.</summary>
public sealed record GenerationOptions
{
    public int MaxTokens { get; init; } = 256;
    public SamplingOptions Sampling { get; init; } = SamplingOptions.Greedy;
    /// <summary>
    /// How tokens are produced; every method gives the same greedy output. Default hybrid (DESIGN 6): prompt lookup
    /// and early exits under the price bound, which falls back to plain steps whenever drafting does not pay.
    /// </summary>
    public DecodingMethod Method { get; init; } = DecodingMethod.Hybrid;
    /// <summary>
    /// Settings of the speculative methods (ignored by the autoregressive one). Null: the model's calibrated settings
    /// when a calibration sidecar was loaded (<see cref="LanguageModel.SpeculationDefaults"/>), else <see cref="SpeculationOptions.Default"/>.
    /// </summary>
    public SpeculationOptions? Speculation { get; init; }
    /// <summary>Stop at the model's end-of-generation tokens (EOS, EOT, ...). The stop token is not returned.</summary>
    public bool StopAtEndOfGeneration { get; init; } = true;

    public void Validate()
    {
        if (MaxTokens < 0) throw new InvalidRequestException($"max tokens {MaxTokens} must not be negative");
        Sampling.Validate();
        Speculation?.Validate();
    }
}

/// <summary>The outcome of one generation.</summary>
public sealed record GenerationResult(int[] PromptTokens, int[] OutputTokens, FinishReason FinishReason, DecodeStats Stats);
