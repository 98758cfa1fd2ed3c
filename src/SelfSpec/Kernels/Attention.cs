using System.Numerics.Tensors;

namespace SelfSpec.Kernels;

/// <summary>
/// Causal attention of one query head over the cached keys and values of positions [0, count), in
/// position order: scores, a max-subtracted softmax, then the probability-weighted sum of values.
/// The sequence of operations depends only on the query and count, never on the batch around it.
/// </summary>
internal static class Attention
{
    /// <param name="query">(headDim) the rotated query of one head</param>
    /// <param name="keys">(positions x kvDim) the layer's key cache; the head's keys start at kvOffset</param>
    /// <param name="values">(positions x kvDim) the layer's value cache</param>
    /// <param name="scores">scratch of at least count floats</param>
    /// <param name="output">(headDim) destination</param>
    public static void Head(ReadOnlySpan<float> query, ReadOnlySpan<float> keys, ReadOnlySpan<float> values,
        int count, int kvDim, int kvOffset, float scale, Span<float> scores, Span<float> output)
    {
        int headDim = query.Length;
        var s = scores[..count];
        for (int j = 0; j < count; j++)
            s[j] = TensorPrimitives.Dot(query, keys.Slice(j * kvDim + kvOffset, headDim)) * scale;
        float max = TensorPrimitives.Max(s);
        TensorPrimitives.Subtract(s, max, s);
        TensorPrimitives.Exp(s, s);
        float inv = 1f / TensorPrimitives.Sum(s);
        output.Clear();
        for (int j = 0; j < count; j++)
            TensorPrimitives.MultiplyAdd(values.Slice(j * kvDim + kvOffset, headDim), s[j] * inv, output, output);
    }

    /// <summary>Plain reference of <see cref="Head"/> (double accumulation; agrees to float tolerance).</summary>
    public static void Reference(ReadOnlySpan<float> query, ReadOnlySpan<float> keys, ReadOnlySpan<float> values,
        int count, int kvDim, int kvOffset, float scale, Span<float> output)
    {
        int headDim = query.Length;
        var p = new double[count];
        double max = double.NegativeInfinity;
        for (int j = 0; j < count; j++)
        {
            double dot = 0;
            for (int d = 0; d < headDim; d++) dot += query[d] * keys[j * kvDim + kvOffset + d];
            p[j] = dot * scale;
            max = Math.Max(max, p[j]);
        }
        double sum = 0;
        for (int j = 0; j < count; j++) sum += p[j] = Math.Exp(p[j] - max);
        for (int d = 0; d < headDim; d++)
        {
            double acc = 0;
            for (int j = 0; j < count; j++) acc += p[j] / sum * values[j * kvDim + kvOffset + d];
            output[d] = (float)acc;
        }
    }
}
