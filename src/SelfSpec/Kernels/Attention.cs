using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SelfSpec.Kernels;

/// <summary>
/// Causal attention of the query heads that share one kv head, over the cached keys and values of positions
/// [0, count) (half precision, <see cref="KvLayout"/>): scores, a max-subtracted softmax, then the
/// probability-weighted sum of values in position order.
///
/// Keys are stored 16 positions to a block, dimension-major inside it, so the scores of 16 positions are one
/// vector: a chain of fused multiply-adds over the head's dimensions, one lane per position, with no
/// horizontal sums. Up to four queries share each widened key vector and each widened value row, which is
/// what makes the extra rows of a verification pass cheap. Every lane's arithmetic depends only on its own
/// query and position: the same sequence at any tile size, batch, row place or thread split (DESIGN 2.1).
/// The AVX-512, AVX2 and scalar paths perform the same operations per lane, so they agree bitwise too.
///
/// Widening a half to float is exact and done with integer operations: the half's exponent and mantissa moved
/// into a float's bits give the value times 2^-112. Queries and probabilities are pre-multiplied by 2^112
/// (exact), so every product equals the product of the true values and no multiply is spent undoing the shift.
/// </summary>
internal static unsafe class Attention
{
    private const float Shift = 5.192296858534828E+33f; // 2^112, exactly

    /// <summary>Scratch floats one call needs for scores, per query of a tile (the key count rounded up to whole blocks).</summary>
    public static int ScoreFloats(int count) => (count + KvLayout.BlockPositions - 1) / KvLayout.BlockPositions * KvLayout.BlockPositions;

    /// <param name="queries">(heads x headDim) the rotated queries of consecutive query heads that share a kv head</param>
    /// <param name="keys">the kv head's key blocks (<see cref="KvLayout.KeyBlock"/>)</param>
    /// <param name="values">the kv head's value rows (<see cref="KvLayout.ValueRow"/>)</param>
    /// <param name="count">keys and values attended to: positions [0, count)</param>
    /// <param name="scratch">at least 4 * (<see cref="ScoreFloats"/>(count) + headDim) floats</param>
    /// <param name="output">(heads x headDim) destination</param>
    public static void Heads(ReadOnlySpan<float> queries, int heads, int headDim, ReadOnlySpan<ushort> keys, ReadOnlySpan<ushort> values,
        int count, float scale, Span<float> scratch, Span<float> output)
    {
        int scoreFloats = ScoreFloats(count);
        if (heads < 1 || headDim < 1 || count < 1 || queries.Length < heads * headDim || output.Length < heads * headDim
            || keys.Length < scoreFloats * headDim || values.Length < count * headDim || scratch.Length < 4 * (scoreFloats + headDim))
            throw new ArgumentException("attention spans do not match heads, head size and count");
        fixed (float* q0 = queries)
        fixed (ushort* k0 = keys)
        fixed (ushort* v0 = values)
        fixed (float* s0 = scratch)
        fixed (float* o0 = output)
        {
            float* shifted = s0 + 4 * scoreFloats;
            for (int h = 0; h < heads; h += 4)
            {
                int t = Math.Min(4, heads - h);
                TensorPrimitives.Multiply(new ReadOnlySpan<float>(q0 + h * headDim, t * headDim), Shift, new Span<float>(shifted, t * headDim));
                switch (t)
                {
                    case 1: Tile<TileOf1>(shifted, headDim, k0, v0, count, scoreFloats, scale, s0, o0 + h * headDim); break;
                    case 2: Tile<TileOf2>(shifted, headDim, k0, v0, count, scoreFloats, scale, s0, o0 + h * headDim); break;
                    case 3: Tile<TileOf3>(shifted, headDim, k0, v0, count, scoreFloats, scale, s0, o0 + h * headDim); break;
                    default: Tile<TileOf4>(shifted, headDim, k0, v0, count, scoreFloats, scale, s0, o0 + h * headDim); break;
                }
            }
        }
    }

    private static void Tile<T>(float* q, int headDim, ushort* k, ushort* v, int count, int scoreFloats, float scale, float* scores, float* output)
        where T : struct, ITileSize
    {
        if (Avx512F.IsSupported && headDim % 16 == 0) Scores512<T>(q, headDim, k, scoreFloats, scale, scores);
        else if (Avx2.IsSupported && Fma.IsSupported) Scores256<T>(q, headDim, k, scoreFloats, scale, scores);
        else ScoresScalar(T.Count, q, headDim, k, scoreFloats, scale, scores);

        for (int t = 0; t < T.Count; t++)
        {
            var s = new Span<float>(scores + t * scoreFloats, count);
            float max = TensorPrimitives.Max(s);
            TensorPrimitives.Subtract(s, max, s);
            TensorPrimitives.Exp(s, s);
            TensorPrimitives.Multiply(s, 1f / TensorPrimitives.Sum(s) * Shift, s);
        }

        if (Avx512F.IsSupported && headDim % 64 == 0) Values512<T>(headDim, v, count, scoreFloats, scores, output);
        else if (Avx2.IsSupported && Fma.IsSupported && headDim % 32 == 0) Values256<T>(headDim, v, count, scoreFloats, scores, output);
        else ValuesScalar(T.Count, headDim, v, count, scoreFloats, scores, output);
    }

    // ---------- scores: per lane (position), a fused multiply-add chain over the dimensions, in order ----------

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Scores512<T>(float* q, int headDim, ushort* k, int scoreFloats, float scale, float* scores) where T : struct, ITileSize
    {
        float* q1 = q + headDim, q2 = q1 + headDim, q3 = q2 + headDim;
        var vs = Vector512.Create(scale);
        for (int b = 0; b < scoreFloats; b += 16)
        {
            ushort* kb = k + b * headDim;
            Vector512<float> a0 = Vector512<float>.Zero, a1 = a0, a2 = a0, a3 = a0;
            for (int d = 0; d < headDim; d++)
            {
                var kv = Widen512(kb + d * 16);
                a0 = Avx512F.FusedMultiplyAdd(Vector512.Create(q[d]), kv, a0);
                if (T.Count > 1) a1 = Avx512F.FusedMultiplyAdd(Vector512.Create(q1[d]), kv, a1);
                if (T.Count > 2) a2 = Avx512F.FusedMultiplyAdd(Vector512.Create(q2[d]), kv, a2);
                if (T.Count > 3) a3 = Avx512F.FusedMultiplyAdd(Vector512.Create(q3[d]), kv, a3);
            }
            (a0 * vs).Store(scores + b);
            if (T.Count > 1) (a1 * vs).Store(scores + scoreFloats + b);
            if (T.Count > 2) (a2 * vs).Store(scores + 2 * scoreFloats + b);
            if (T.Count > 3) (a3 * vs).Store(scores + 3 * scoreFloats + b);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Scores256<T>(float* q, int headDim, ushort* k, int scoreFloats, float scale, float* scores) where T : struct, ITileSize
    {
        float* q1 = q + headDim, q2 = q1 + headDim, q3 = q2 + headDim;
        var vs = Vector256.Create(scale);
        for (int b = 0; b < scoreFloats; b += 8)
        {
            // Lanes 0-7 or 8-15 of a block: the same per-lane chain as the 16-lane path.
            ushort* kb = k + (b & ~15) * headDim + (b & 8);
            Vector256<float> a0 = Vector256<float>.Zero, a1 = a0, a2 = a0, a3 = a0;
            for (int d = 0; d < headDim; d++)
            {
                var kv = Widen256(kb + d * 16);
                a0 = Fma.MultiplyAdd(Vector256.Create(q[d]), kv, a0);
                if (T.Count > 1) a1 = Fma.MultiplyAdd(Vector256.Create(q1[d]), kv, a1);
                if (T.Count > 2) a2 = Fma.MultiplyAdd(Vector256.Create(q2[d]), kv, a2);
                if (T.Count > 3) a3 = Fma.MultiplyAdd(Vector256.Create(q3[d]), kv, a3);
            }
            (a0 * vs).Store(scores + b);
            if (T.Count > 1) (a1 * vs).Store(scores + scoreFloats + b);
            if (T.Count > 2) (a2 * vs).Store(scores + 2 * scoreFloats + b);
            if (T.Count > 3) (a3 * vs).Store(scores + 3 * scoreFloats + b);
        }
    }

    private static void ScoresScalar(int tile, float* q, int headDim, ushort* k, int scoreFloats, float scale, float* scores)
    {
        for (int t = 0; t < tile; t++)
            for (int p = 0; p < scoreFloats; p++)
            {
                ushort* kb = k + (p & ~15) * headDim + (p & 15);
                float acc = 0;
                for (int d = 0; d < headDim; d++) acc = MathF.FusedMultiplyAdd(q[t * headDim + d], WidenScalar(kb[d * 16]), acc);
                scores[t * scoreFloats + p] = acc * scale;
            }
    }

    // ---------- values: per output element, a fused multiply-add chain over the positions, in order ----------

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Values512<T>(int headDim, ushort* v, int count, int scoreFloats, float* p, float* output) where T : struct, ITileSize
    {
        float* p1 = p + scoreFloats, p2 = p1 + scoreFloats, p3 = p2 + scoreFloats;
        for (int c = 0; c < headDim; c += 64)
        {
            Vector512<float> a00 = Vector512<float>.Zero, a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00;
            Vector512<float> a20 = a00, a21 = a00, a22 = a00, a23 = a00, a30 = a00, a31 = a00, a32 = a00, a33 = a00;
            for (int j = 0; j < count; j++)
            {
                ushort* row = v + j * headDim + c;
                var v0 = Widen512(row);
                var v1 = Widen512(row + 16);
                var v2 = Widen512(row + 32);
                var v3 = Widen512(row + 48);
                var w = Vector512.Create(p[j]);
                a00 = Avx512F.FusedMultiplyAdd(v0, w, a00);
                a01 = Avx512F.FusedMultiplyAdd(v1, w, a01);
                a02 = Avx512F.FusedMultiplyAdd(v2, w, a02);
                a03 = Avx512F.FusedMultiplyAdd(v3, w, a03);
                if (T.Count > 1)
                {
                    w = Vector512.Create(p1[j]);
                    a10 = Avx512F.FusedMultiplyAdd(v0, w, a10);
                    a11 = Avx512F.FusedMultiplyAdd(v1, w, a11);
                    a12 = Avx512F.FusedMultiplyAdd(v2, w, a12);
                    a13 = Avx512F.FusedMultiplyAdd(v3, w, a13);
                }
                if (T.Count > 2)
                {
                    w = Vector512.Create(p2[j]);
                    a20 = Avx512F.FusedMultiplyAdd(v0, w, a20);
                    a21 = Avx512F.FusedMultiplyAdd(v1, w, a21);
                    a22 = Avx512F.FusedMultiplyAdd(v2, w, a22);
                    a23 = Avx512F.FusedMultiplyAdd(v3, w, a23);
                }
                if (T.Count > 3)
                {
                    w = Vector512.Create(p3[j]);
                    a30 = Avx512F.FusedMultiplyAdd(v0, w, a30);
                    a31 = Avx512F.FusedMultiplyAdd(v1, w, a31);
                    a32 = Avx512F.FusedMultiplyAdd(v2, w, a32);
                    a33 = Avx512F.FusedMultiplyAdd(v3, w, a33);
                }
            }
            Store4(output + c, a00, a01, a02, a03);
            if (T.Count > 1) Store4(output + headDim + c, a10, a11, a12, a13);
            if (T.Count > 2) Store4(output + 2 * headDim + c, a20, a21, a22, a23);
            if (T.Count > 3) Store4(output + 3 * headDim + c, a30, a31, a32, a33);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Values256<T>(int headDim, ushort* v, int count, int scoreFloats, float* p, float* output) where T : struct, ITileSize
    {
        float* p1 = p + scoreFloats, p2 = p1 + scoreFloats, p3 = p2 + scoreFloats;
        for (int c = 0; c < headDim; c += 32)
        {
            Vector256<float> a00 = Vector256<float>.Zero, a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00;
            Vector256<float> a20 = a00, a21 = a00, a22 = a00, a23 = a00, a30 = a00, a31 = a00, a32 = a00, a33 = a00;
            for (int j = 0; j < count; j++)
            {
                ushort* row = v + j * headDim + c;
                var v0 = Widen256(row);
                var v1 = Widen256(row + 8);
                var v2 = Widen256(row + 16);
                var v3 = Widen256(row + 24);
                var w = Vector256.Create(p[j]);
                a00 = Fma.MultiplyAdd(v0, w, a00);
                a01 = Fma.MultiplyAdd(v1, w, a01);
                a02 = Fma.MultiplyAdd(v2, w, a02);
                a03 = Fma.MultiplyAdd(v3, w, a03);
                if (T.Count > 1)
                {
                    w = Vector256.Create(p1[j]);
                    a10 = Fma.MultiplyAdd(v0, w, a10);
                    a11 = Fma.MultiplyAdd(v1, w, a11);
                    a12 = Fma.MultiplyAdd(v2, w, a12);
                    a13 = Fma.MultiplyAdd(v3, w, a13);
                }
                if (T.Count > 2)
                {
                    w = Vector256.Create(p2[j]);
                    a20 = Fma.MultiplyAdd(v0, w, a20);
                    a21 = Fma.MultiplyAdd(v1, w, a21);
                    a22 = Fma.MultiplyAdd(v2, w, a22);
                    a23 = Fma.MultiplyAdd(v3, w, a23);
                }
                if (T.Count > 3)
                {
                    w = Vector256.Create(p3[j]);
                    a30 = Fma.MultiplyAdd(v0, w, a30);
                    a31 = Fma.MultiplyAdd(v1, w, a31);
                    a32 = Fma.MultiplyAdd(v2, w, a32);
                    a33 = Fma.MultiplyAdd(v3, w, a33);
                }
            }
            Store4(output + c, a00, a01, a02, a03);
            if (T.Count > 1) Store4(output + headDim + c, a10, a11, a12, a13);
            if (T.Count > 2) Store4(output + 2 * headDim + c, a20, a21, a22, a23);
            if (T.Count > 3) Store4(output + 3 * headDim + c, a30, a31, a32, a33);
        }
    }

    private static void ValuesScalar(int tile, int headDim, ushort* v, int count, int scoreFloats, float* p, float* output)
    {
        for (int t = 0; t < tile; t++)
            for (int d = 0; d < headDim; d++)
            {
                float acc = 0;
                for (int j = 0; j < count; j++) acc = MathF.FusedMultiplyAdd(WidenScalar(v[j * headDim + d]), p[t * scoreFloats + j], acc);
                output[t * headDim + d] = acc;
            }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store4(float* o, Vector512<float> a, Vector512<float> b, Vector512<float> c, Vector512<float> d)
    {
        a.Store(o);
        b.Store(o + 16);
        c.Store(o + 32);
        d.Store(o + 48);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store4(float* o, Vector256<float> a, Vector256<float> b, Vector256<float> c, Vector256<float> d)
    {
        a.Store(o);
        b.Store(o + 8);
        c.Store(o + 16);
        d.Store(o + 24);
    }

    // ---------- half -> float * 2^-112, exactly (finite halves) ----------
    // Sign-extended to 32 bits and shifted left 13, a half's sign lands in bit 31 and its exponent and mantissa
    // in bits 27-13; the mask clears the sign's copies in bits 30-28. The constants are written inline: a
    // static readonly would cost an initialization check inside the loops.

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Widen512(ushort* p) =>
        (Avx512F.ConvertToVector512Int32(Vector256.Load((short*)p)) << 13 & Vector512.Create(unchecked((int)0x8FFF_E000))).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Widen256(ushort* p) =>
        (Avx2.ConvertToVector256Int32((short*)p) << 13 & Vector256.Create(unchecked((int)0x8FFF_E000))).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float WidenScalar(ushort h) => BitConverter.Int32BitsToSingle((short)h << 13 & unchecked((int)0x8FFF_E000));

    /// <summary>
    /// Plain reference of <see cref="Heads"/> for one query head: keys and values given as floats (position j of
    /// the head at j * stride), double accumulation; agrees to float tolerance.
    /// </summary>
    public static void Reference(ReadOnlySpan<float> query, ReadOnlySpan<float> keys, ReadOnlySpan<float> values,
        int count, int stride, float scale, Span<float> output)
    {
        int headDim = query.Length;
        var p = new double[count];
        double max = double.NegativeInfinity;
        for (int j = 0; j < count; j++)
        {
            double dot = 0;
            for (int d = 0; d < headDim; d++) dot += query[d] * keys[j * stride + d];
            p[j] = dot * scale;
            max = Math.Max(max, p[j]);
        }
        double sum = 0;
        for (int j = 0; j < count; j++) sum += p[j] = Math.Exp(p[j] - max);
        for (int d = 0; d < headDim; d++)
        {
            double acc = 0;
            for (int j = 0; j < count; j++) acc += p[j] / sum * values[j * stride + d];
            output[d] = (float)acc;
        }
    }
}

/// <summary>
/// Where a kv head's keys and values of a position live in the cache's half-precision arrays (see
/// <see cref="Attention"/>): keys in blocks of 16 positions, (headDim x 16) each, lane = position % 16;
/// values one row of headDim per position.
/// </summary>
internal static class KvLayout
{
    public const int BlockPositions = 16;

    /// <summary>Key elements per kv head: the capacity rounded up to whole blocks, times headDim.</summary>
    public static int KeyHeadElements(int capacity, int headDim) => (capacity + BlockPositions - 1) / BlockPositions * BlockPositions * headDim;

    /// <summary>Offset of (position, dimension 0) within a kv head's keys; dimension d is 16 * d further.</summary>
    public static int KeyBlock(int position, int headDim) => (position & ~(BlockPositions - 1)) * headDim + (position & (BlockPositions - 1));

    /// <summary>Offset of a position's value row within a kv head's values.</summary>
    public static int ValueRow(int position, int headDim) => position * headDim;
}
