namespace SelfSpec.Sampling;

/// <summary>
/// How the next token is chosen from the logits. Temperature 0 is greedy (argmax, lowest id on ties).
/// Filters apply in llama.cpp's default order: repetition penalty, top-k, top-p, min-p, then temperature.
/// </summary>
public sealed record SamplingOptions
{
    public float Temperature { get; init; }
    /// <summary>Keep the K most likely tokens; 0 = off.</summary>
    public int TopK { get; init; }
    /// <summary>Keep the smallest set of most likely tokens whose probability reaches P; 1 = off.</summary>
    public float TopP { get; init; } = 1f;
    /// <summary>Drop tokens less likely than MinP times the most likely one; 0 = off.</summary>
    public float MinP { get; init; }
    /// <summary>Divide positive logits (multiply negative ones) of recently seen tokens; 1 = off.</summary>
    public float RepetitionPenalty { get; init; } = 1f;
    /// <summary>How many of the latest tokens the repetition penalty looks at.</summary>
    public int RepetitionWindow { get; init; } = 64;
    public ulong Seed { get; init; } = 0x5EED;

    public bool IsGreedy => Temperature <= 0f;

    public static SamplingOptions Greedy { get; } = new();

    /// <summary>Throws <see cref="InvalidRequestException"/> naming the first bad option.</summary>
    public void Validate()
    {
        if (float.IsNaN(Temperature) || Temperature < 0f || Temperature > 100f) throw new InvalidRequestException($"temperature {Temperature} must be between 0 and 100");
        if (TopK < 0) throw new InvalidRequestException($"top-k {TopK} must be 0 (off) or positive");
        if (!(TopP > 0f && TopP <= 1f)) throw new InvalidRequestException($"top-p {TopP} must be in (0, 1]");
        if (!(MinP >= 0f && MinP <= 1f)) throw new InvalidRequestException($"min-p {MinP} must be in [0, 1]");
        if (!(RepetitionPenalty > 0f && RepetitionPenalty <= 10f)) throw new InvalidRequestException($"repetition penalty {RepetitionPenalty} must be in (0, 10]");
        if (RepetitionWindow < 0) throw new InvalidRequestException($"repetition window {RepetitionWindow} must not be negative");
    }
}
