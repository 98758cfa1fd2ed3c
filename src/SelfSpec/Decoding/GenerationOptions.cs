using System.Text.Json.Serialization;
using SelfSpec.Sampling;

namespace SelfSpec.Decoding;

/// <summary>What to generate and how.</summary>
public sealed record GenerationOptions
{
    public int MaxTokens { get; init; } = 256;
    public SamplingOptions Sampling { get; init; } = SamplingOptions.Greedy;
    /// <summary>
    /// How tokens are produced; every method gives the same greedy output. Default hybrid (the command line's default too): prompt lookup
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
    /// <summary>
    /// Texts that end generation when the output text reaches one of them. The stop text is never returned, even
    /// when it spans several tokens or a speculative round; the output tokens end with the token that completed it.
    /// </summary>
    public IReadOnlyList<string> StopSequences { get; init; } = [];
    /// <summary>
    /// Null (default): no log-probabilities. 0 to 20: each committed token comes with its log-probability under the full
    /// model (<see cref="TokenLogprobs"/>, on each <see cref="GenerationUpdate"/> and in <see cref="GenerationResult.Logprobs"/>)
    /// and this many of the most likely tokens at its position.
    /// </summary>
    public int? TopLogprobs { get; init; }

    /// <summary>The most alternatives <see cref="TopLogprobs"/> may ask for.</summary>
    public const int MaxTopLogprobs = LogSoftmax.MaxTop;

    /// <summary>Checks the options on their own; throws <see cref="InvalidRequestException"/> naming the first bad one.</summary>
    public void Validate()
    {
        if (MaxTokens < 0) throw new InvalidRequestException($"max tokens {MaxTokens} must not be negative");
        foreach (string stop in StopSequences)
            if (string.IsNullOrEmpty(stop)) throw new InvalidRequestException("a stop sequence must not be empty");
        if (TopLogprobs is int top && (top < 0 || top > MaxTopLogprobs))
            throw new InvalidRequestException($"top logprobs {top} must be between 0 and {MaxTopLogprobs}");
        Sampling.Validate();
        Speculation?.Validate();
    }

    /// <summary>
    /// Checks the options against the model they are used with (the one place where layer numbers meet a model's
    /// depth); throws <see cref="InvalidRequestException"/> naming the first bad one.
    /// </summary>
    public void ValidateFor(int layerCount)
    {
        Validate();
        Speculation?.ValidateFor(layerCount);
    }
}

/// <summary>The outcome of one generation (serialized by <see cref="SelfSpecJsonContext"/> as <c>generate --json</c> prints it).</summary>
public sealed record GenerationResult(
    [property: JsonPropertyOrder(1)] int[] PromptTokens,
    [property: JsonPropertyOrder(2)] int[] OutputTokens,
    [property: JsonPropertyOrder(3), JsonConverter(typeof(FinishReasonNameConverter))] FinishReason FinishReason,
    [property: JsonPropertyOrder(4)] DecodeStats Stats)
{
    /// <summary>The output as text, stop sequence excluded (empty when the result was made without a tokenizer).</summary>
    [JsonPropertyOrder(0)]
    public string Text { get; init; } = "";

    /// <summary>Each output token's log-probabilities, in order, when <see cref="GenerationOptions.TopLogprobs"/> asked for them; else null.</summary>
    [JsonPropertyOrder(5), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<TokenLogprobs>? Logprobs { get; init; }
}
