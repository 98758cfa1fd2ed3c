using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using SelfSpec.Quantization;

namespace SelfSpec.Kernels;

/// <summary>
/// Causal attention of one query head over the cached keys and values of positions [0, count), in
/// position order: scores, a max-subtracted softmax, then the probability-weighted sum of values.
/// The sequence of operations depends only on the query and count, never on the batch around it. Horizontal
/// sums use FloatSum's written-out order: Vector512.Sum's order may differ between the JIT's tiers.
/// </summary>
internal static class Attention
{
    /// <param name="query">(headDim) the rotated query of one head</param>
    /// <param name="keys">the layer's key cache: position j of the head at kvOffset + j * stride</param>
    /// <param name="values">the layer's value cache, laid out as the keys</param>
    /// <param name="scores">scratch of at least count floats</param>
    /// <param name="output">(headDim) destination</param>
    public static void Head(ReadOnlySpan<float> query, ReadOnlySpan<float> keys, ReadOnlySpan<float> values,
        int count, int stride, int kvOffset, float scale, Span<float> scores, Span<float> output)
    {
        int headDim = query.Length;
        if (count <= 0 || (long)(count - 1) * stride + kvOffset + headDim > keys.Length || keys.Length != values.Length || output.Length < headDim)
            throw new ArgumentException("attention spans do not match count, stride and offset");
        var s = scores[..count];
        ref float q = ref MemoryMarshal.GetReference(query);
        ref float k0 = ref Unsafe.Add(ref MemoryMarshal.GetReference(keys), kvOffset);
        ref float v0 = ref Unsafe.Add(ref MemoryMarshal.GetReference(values), kvOffset);
        ref float o = ref MemoryMarshal.GetReference(output);

        if (Vector512.IsHardwareAccelerated && headDim == 64)
        {
            var q0 = Vector512.LoadUnsafe(ref q, 0);
            var q1 = Vector512.LoadUnsafe(ref q, 16);
            var q2 = Vector512.LoadUnsafe(ref q, 32);
            var q3 = Vector512.LoadUnsafe(ref q, 48);
            for (int j = 0; j < count; j++)
                s[j] = Dot64(q0, q1, q2, q3, ref Unsafe.Add(ref k0, j * stride)) * scale;
        }
        else if (Vector512.IsHardwareAccelerated && headDim % 16 == 0)
        {
            for (int j = 0; j < count; j++)
            {
                ref float k = ref Unsafe.Add(ref k0, j * stride);
                var acc = Vector512<float>.Zero;
                for (int d = 0; d < headDim; d += 16)
                    acc = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref q, (nuint)d), Vector512.LoadUnsafe(ref k, (nuint)d), acc);
                s[j] = FloatSum.Sum(acc) * scale;
            }
        }
        else if (Vector256.IsHardwareAccelerated && headDim % 8 == 0)
        {
            for (int j = 0; j < count; j++)
            {
                ref float k = ref Unsafe.Add(ref k0, j * stride);
                var acc = Vector256<float>.Zero;
                for (int d = 0; d < headDim; d += 8)
                    acc = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref q, (nuint)d), Vector256.LoadUnsafe(ref k, (nuint)d), acc);
                s[j] = FloatSum.Sum(acc) * scale;
            }
        }
        else
        {
            for (int j = 0; j < count; j++)
                s[j] = TensorPrimitives.Dot(query, keys.Slice(j * stride + kvOffset, headDim)) * scale;
        }

        float max = TensorPrimitives.Max(s);
        TensorPrimitives.Subtract(s, max, s);
        TensorPrimitives.Exp(s, s);
        TensorPrimitives.Multiply(s, 1f / TensorPrimitives.Sum(s), s);

        // Output chunk outer, keys inner: each chunk's accumulator stays in a register over all keys.
        if (Vector512.IsHardwareAccelerated && headDim == 64)
        {
            // All four output chunks at once (four independent chains), keys in order: each output element is
            // the same sum in the same order as the chunk-by-chunk loop below.
            var a0 = Vector512<float>.Zero;
            var a1 = Vector512<float>.Zero;
            var a2 = Vector512<float>.Zero;
            var a3 = Vector512<float>.Zero;
            for (int j = 0; j < count; j++)
            {
                ref float v = ref Unsafe.Add(ref v0, j * stride);
                var p = Vector512.Create(s[j]);
                a0 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref v, 0), p, a0);
                a1 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref v, 16), p, a1);
                a2 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref v, 32), p, a2);
                a3 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref v, 48), p, a3);
            }
            a0.StoreUnsafe(ref o, 0);
            a1.StoreUnsafe(ref o, 16);
            a2.StoreUnsafe(ref o, 32);
            a3.StoreUnsafe(ref o, 48);
        }
        else if (Vector512.IsHardwareAccelerated && headDim % 16 == 0)
        {
            for (int d = 0; d < headDim; d += 16)
            {
                var acc = Vector512<float>.Zero;
                for (int j = 0; j < count; j++)
                    acc = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref v0, (nuint)(j * stride + d)), Vector512.Create(s[j]), acc);
                acc.StoreUnsafe(ref o, (nuint)d);
            }
        }
        else if (Vector256.IsHardwareAccelerated && headDim % 8 == 0)
        {
            for (int d = 0; d < headDim; d += 8)
            {
                var acc = Vector256<float>.Zero;
                for (int j = 0; j < count; j++)
                    acc = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref v0, (nuint)(j * stride + d)), Vector256.Create(s[j]), acc);
                acc.StoreUnsafe(ref o, (nuint)d);
            }
        }
        else
        {
            output[..headDim].Clear();
            for (int j = 0; j < count; j++)
                TensorPrimitives.MultiplyAdd(values.Slice(j * stride + kvOffset, headDim), s[j], output[..headDim], output[..headDim]);
        }
    }

    /// <summary>The dot product of a 64-wide query (four vectors) with one key: the generic loop's exact sequence.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Dot64(Vector512<float> q0, Vector512<float> q1, Vector512<float> q2, Vector512<float> q3, ref float k)
    {
        var acc = Vector512.FusedMultiplyAdd(q0, Vector512.LoadUnsafe(ref k, 0), Vector512<float>.Zero);
        acc = Vector512.FusedMultiplyAdd(q1, Vector512.LoadUnsafe(ref k, 16), acc);
        acc = Vector512.FusedMultiplyAdd(q2, Vector512.LoadUnsafe(ref k, 32), acc);
        acc = Vector512.FusedMultiplyAdd(q3, Vector512.LoadUnsafe(ref k, 48), acc);
        return FloatSum.Sum(acc);
    }

    /// <summary>Plain reference of <see cref="Head"/> (double accumulation; agrees to float tolerance).</summary>
    public static void Reference(ReadOnlySpan<float> query, ReadOnlySpan<float> keys, ReadOnlySpan<float> values,
        int count, int stride, int kvOffset, float scale, Span<float> output)
    {
        int headDim = query.Length;
        var p = new double[count];
        double max = double.NegativeInfinity;
        for (int j = 0; j < count; j++)
        {
            double dot = 0;
            for (int d = 0; d < headDim; d++) dot += query[d] * keys[j * stride + kvOffset + d];
            p[j] = dot * scale;
            max = Math.Max(max, p[j]);
        }
        double sum = 0;
        for (int j = 0; j < count; j++) sum += p[j] = Math.Exp(p[j] - max);
        for (int d = 0; d < headDim; d++)
        {
            double acc = 0;
            for (int j = 0; j < count; j++) acc += p[j] / sum * values[j * stride + kvOffset + d];
            output[d] = (float)acc;
        }
    }
}
