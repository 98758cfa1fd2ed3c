using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using SelfSpec.Kernels;

namespace SelfSpec.Model;

/// <summary>
/// Keys and values of every computed position, per layer and kv head, in half precision as llama.cpp's default
/// F16 cache stores them, laid out for the attention kernel (<see cref="KvLayout"/>): keys in blocks of 16
/// positions so one vector holds 16 positions' scores, values one row per position. Half precision halves the
/// bytes attention streams per token. A value beyond half range is stored as infinity and attends as 65536 (the
/// kernel's widening assumes finite halves); a model producing one has already diverged. Rollback is a length
/// change (<see cref="Truncate"/>); entries past <see cref="Length"/> are scratch that the next forward pass overwrites.
/// </summary>
public sealed class KvCache
{
    /// <summary>Per layer: (kvHeads x <see cref="KeyHeadElements"/>) half bits.</summary>
    internal readonly ushort[][] Keys;
    /// <summary>Per layer: (kvHeads x capacity x headDim) half bits.</summary>
    internal readonly ushort[][] Values;

    public int Capacity { get; }
    public int KvDim { get; }
    public int HeadDim { get; }
    internal int KvHeads { get; }
    /// <summary>Key elements per kv head: capacity rounded up to whole 16-position blocks, times headDim.</summary>
    internal int KeyHeadElements { get; }
    /// <summary>Number of leading positions whose keys and values are exact at every layer.</summary>
    public int Length { get; private set; }

    public KvCache(ModelConfig config, int capacity)
    {
        if (capacity < 1 || capacity > config.ContextLength)
            throw new InvalidRequestException($"context size {capacity} must be between 1 and the model's {config.ContextLength}");
        Capacity = capacity;
        KvDim = config.KvDim;
        HeadDim = config.HeadDim;
        KvHeads = config.KvHeadCount;
        KeyHeadElements = KvLayout.KeyHeadElements(capacity, HeadDim);
        Keys = new ushort[config.LayerCount][];
        Values = new ushort[config.LayerCount][];
        for (int l = 0; l < config.LayerCount; l++)
        {
            Keys[l] = new ushort[(long)KvHeads * KeyHeadElements];
            Values[l] = new ushort[(long)capacity * KvDim];
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

    /// <summary>A kv head's keys at a layer (the kernel reads the first whole blocks of them).</summary>
    internal ReadOnlySpan<ushort> HeadKeys(int layer, int head) => Keys[layer].AsSpan(head * KeyHeadElements, KeyHeadElements);

    /// <summary>A kv head's value rows at a layer.</summary>
    internal ReadOnlySpan<ushort> HeadValues(int layer, int head) => Values[layer].AsSpan(head * ValueHeadElements, ValueHeadElements);

    private int ValueHeadElements => Capacity * HeadDim;

    /// <summary>Stores one position's keys and values at a layer, every kv head: (kvDim) halves each.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal void Write(int layer, int position, ReadOnlySpan<Half> keys, ReadOnlySpan<Half> values)
    {
        if ((uint)position >= (uint)Capacity || keys.Length != KvDim || values.Length != KvDim)
            throw new ArgumentException($"position {position} or row sizes do not fit the cache");
        var k = MemoryMarshal.Cast<Half, ushort>(keys);
        var v = MemoryMarshal.Cast<Half, ushort>(values);
        var layerKeys = Keys[layer];
        int keyBlock = KvLayout.KeyBlock(position, HeadDim), valueRow = KvLayout.ValueRow(position, HeadDim);
        for (int h = 0; h < KvHeads; h++)
        {
            int baseOffset = h * KeyHeadElements + keyBlock;
            for (int d = 0; d < HeadDim; d++) layerKeys[baseOffset + d * KvLayout.BlockPositions] = k[h * HeadDim + d];
            v.Slice(h * HeadDim, HeadDim).CopyTo(Values[layer].AsSpan(h * ValueHeadElements + valueRow, HeadDim));
        }
    }

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

    /// <summary>
    /// A larger cache holding this one's committed positions, so a session whose conversation outgrows its cache keeps
    /// what it computed. A head's keys are whole 16-position blocks from position 0 and its values one row per
    /// position, so the committed prefix of each is one contiguous span whatever the capacity.
    /// </summary>
    internal KvCache Grown(ModelConfig config, int capacity)
    {
        var bigger = new KvCache(config, capacity);
        CopyPrefix(this, bigger, Length);
        bigger.Length = Length;
        return bigger;
    }

    /// <summary>A cache of exactly <paramref name="length"/> positions holding this one's first ones (a prompt cache entry).</summary>
    internal KvCache Snapshot(ModelConfig config, int length)
    {
        if (length < 1 || length > Length) throw new ArgumentOutOfRangeException(nameof(length));
        var copy = new KvCache(config, length);
        CopyPrefix(this, copy, length);
        copy.Length = length;
        return copy;
    }

    /// <summary>Takes the first <paramref name="length"/> positions of <paramref name="source"/> (same model) as this cache's committed ones.</summary>
    internal void RestorePrefix(KvCache source, int length)
    {
        if (length < 0 || length > source.Length || length > Capacity || source.KvDim != KvDim || source.Keys.Length != Keys.Length)
            throw new ArgumentException($"cannot take {length} positions from that cache");
        CopyPrefix(source, this, length);
        Length = length;
    }

    /// <summary>
    /// Copies positions [0, length) of every layer and head. A head's keys are whole 16-position blocks from position 0
    /// and its values one row per position, so the prefix of each is one contiguous span whatever the capacities (key
    /// lanes past length in the last block are scratch the next pass overwrites).
    /// </summary>
    private static void CopyPrefix(KvCache from, KvCache to, int length)
    {
        int keyElements = Math.Min(KvLayout.KeyHeadElements(length, from.HeadDim), Math.Min(from.KeyHeadElements, to.KeyHeadElements));
        int valueElements = length * from.HeadDim;
        for (int l = 0; l < from.Keys.Length; l++)
            for (int h = 0; h < from.KvHeads; h++)
            {
                from.Keys[l].AsSpan(h * from.KeyHeadElements, keyElements).CopyTo(to.Keys[l].AsSpan(h * to.KeyHeadElements));
                from.Values[l].AsSpan(h * from.ValueHeadElements, valueElements).CopyTo(to.Values[l].AsSpan(h * to.ValueHeadElements));
            }
    }

    public long ByteSize => (long)Keys.Length * ((long)KvHeads * KeyHeadElements + (long)Capacity * KvDim) * sizeof(ushort);
}
