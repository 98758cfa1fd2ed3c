namespace SelfSpec.Model;

/// <summary>
/// Keys and values of every computed position, per layer, head-major: (kvHeads x capacity x headDim) each, so
/// attention streams one head's keys contiguously. Values are stored rounded to half precision, as llama.cpp's
/// default F16 cache stores them, but kept as float so attention reads them without conversion. Rollback is a length change (<see cref="Truncate"/>); entries past
/// <see cref="Length"/> are scratch that the next forward pass overwrites.
/// </summary>
public sealed class KvCache
{
    internal readonly float[][] Keys;
    internal readonly float[][] Values;

    public int Capacity { get; }
    public int KvDim { get; }
    public int HeadDim { get; }
    /// <summary>Number of leading positions whose keys and values are exact at every layer.</summary>
    public int Length { get; private set; }

    public KvCache(ModelConfig config, int capacity)
    {
        if (capacity < 1 || capacity > config.ContextLength)
            throw new InvalidRequestException($"context size {capacity} must be between 1 and the model's {config.ContextLength}");
        Capacity = capacity;
        KvDim = config.KvDim;
        HeadDim = config.HeadDim;
        Keys = new float[config.LayerCount][];
        Values = new float[config.LayerCount][];
        for (int l = 0; l < config.LayerCount; l++)
        {
            Keys[l] = new float[(long)capacity * KvDim];
            Values[l] = new float[(long)capacity * KvDim];
        }
    }

    /// <summary>
    /// The context a generation needs: the prompt plus up to <paramref name="maxTokens"/> new tokens, capped by
    /// the model's context. Throws <see cref="InvalidRequestException"/> for an empty prompt or one that fills the context.
    /// </summary>
    internal static int CapacityFor(ModelConfig config, int promptLength, int maxTokens)
    {
        if (promptLength == 0) throw new InvalidRequestException("the prompt is empty: at least one token is needed");
        if (promptLength >= config.ContextLength)
            throw new InvalidRequestException($"prompt of {promptLength} tokens does not fit the model's context of {config.ContextLength} tokens");
        return (int)Math.Min(config.ContextLength, (long)promptLength + Math.Max(1, maxTokens));
    }

    /// <summary>Where kv head <paramref name="head"/> of <paramref name="position"/> starts in a layer's array.</summary>
    internal int Offset(int head, int position) => (head * Capacity + position) * HeadDim;

    /// <summary>Marks positions [0, length) as committed.</summary>
    public void Commit(int length)
    {
        if (length < 0 || length > Capacity) throw new ArgumentOutOfRangeException(nameof(length));
        Length = length;
    }

    /// <summary>Rolls back to the first <paramref name="length"/> positions.</summary>
    public void Truncate(int length)
    {
        if (length < 0 || length > Length) throw new ArgumentOutOfRangeException(nameof(length));
        Length = length;
    }

    public long ByteSize => 2L * Keys.Length * Capacity * KvDim * sizeof(float);
}
