using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SelfSpec.Kernels;

/// <summary>
/// Causal attention of query heads that share one kv head, over the cached keys and values of a prefix of
/// positions (half precision, <see cref="KvLayout"/>): scores, a max-subtracted softmax, then the
/// probability-weighted sum of values in position order.
///
/// Keys are stored 16 positions to a block, dimension-major inside it, so the scores of 16 positions are one
/// vector: a chain of fused multiply-adds over the head's dimensions, one lane per position, with no
/// horizontal sums. Up to eight queries share each widened key vector and each widened value row: the heads of
/// one row that share a kv head, and the same heads of the other rows of a batch (whose prefixes differ by a
/// position or a few), which is what makes the extra rows of a verification pass cheap. Every lane's arithmetic
/// depends only on its own query and position: the same sequence at any tile size, batch, row place or thread
/// split (architecture.md 2.1). The AVX-512, AVX2 and scalar paths perform the same operations per lane, so they agree
/// bitwise too.
///
/// Widening a half to float is exact and done with integer operations: the half's exponent and mantissa moved
/// into a float's bits give the value times 2^-112. Queries and probabilities are pre-multiplied by 2^112
/// (exact), so every product equals the product of the true values and no multiply is spent undoing the shift.
/// </summary>
internal static unsafe class Attention
{
    private const float Shift = 5.192296858534828E+33f; // 2^112, exactly

    /// <summary>
    /// Queries per tile: they share every widened key and value. Eight keep the AVX-512 value loop's accumulators
    /// (2 vectors of 16 dimensions a query) and the score loop's in registers.
    /// </summary>
    public const int MaxTile = 8;

    /// <summary>Scratch floats one call needs for scores, per query of a tile (the key count rounded up to whole blocks).</summary>
    public static int ScoreFloats(int count) => (count + KvLayout.BlockPositions - 1) / KvLayout.BlockPositions * KvLayout.BlockPositions;

    /// <summary>Scratch floats a call over at most <paramref name="count"/> positions needs.</summary>
    public static int ScratchFloats(int count, int headDim) => MaxTile * (ScoreFloats(count) + headDim);

    /// <summary>Attention of consecutive query heads that share a kv head and attend to the same positions.</summary>
    /// <param name="queries">(heads x headDim) the rotated queries</param>
    /// <param name="keys">the kv head's key blocks (<see cref="KvLayout.KeyBlock"/>)</param>
    /// <param name="values">the kv head's value rows (<see cref="KvLayout.ValueRow"/>)</param>
    /// <param name="count">keys and values attended to: positions [0, count)</param>
    /// <param name="scratch">at least <see cref="ScratchFloats"/>(count, headDim) floats</param>
    /// <param name="output">(heads x headDim) destination</param>
    public static void Heads(ReadOnlySpan<float> queries, int heads, int headDim, ReadOnlySpan<ushort> keys, ReadOnlySpan<ushort> values,
        int count, float scale, Span<float> scratch, Span<float> output)
    {
        if (heads < 1 || heads > 1024) throw new ArgumentException("attention needs 1 to 1024 heads");
        Span<int> offsets = stackalloc int[heads];
        Span<int> counts = stackalloc int[heads];
        for (int h = 0; h < heads; h++)
        {
            offsets[h] = h * headDim;
            counts[h] = count;
        }
        Queries(queries, offsets, counts, headDim, keys, values, scale, scratch, output);
    }

    /// <summary>
    /// Attention of queries that share a kv head, each over its own prefix: the heads of every row of a batch
    /// (row r of a verification pass attends to one position more than row r - 1). Query i is
    /// queries[offsets[i] ..+ headDim], attends to positions [0, counts[i]) and writes output[offsets[i] ..+ headDim].
    /// A query's result is the same bits whichever queries share its call.
    /// <paramref name="softCap"/>, when not 0, caps each scaled score s to softCap tanh(s / softCap) before the softmax
    /// (gemma2); <paramref name="window"/>, when not 0, lets a query see only its last <paramref name="window"/>
    /// positions (sliding-window attention: the earlier ones get probability 0).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Queries(ReadOnlySpan<float> queries, ReadOnlySpan<int> offsets, ReadOnlySpan<int> counts, int headDim,
        ReadOnlySpan<ushort> keys, ReadOnlySpan<ushort> values, float scale, Span<float> scratch, Span<float> output,
        float softCap = 0f, int window = 0)
    {
        int n = offsets.Length, maxCount = 0;
        if (n < 1 || counts.Length != n || headDim < 1) throw new ArgumentException("attention needs at least one query, a count for each, and a head size");
        for (int i = 0; i < n; i++)
        {
            if (counts[i] < 1 || offsets[i] < 0 || offsets[i] > queries.Length - headDim || offsets[i] > output.Length - headDim)
                throw new ArgumentException($"attention query {i}: offset {offsets[i]} or count {counts[i]} out of range");
            maxCount = Math.Max(maxCount, counts[i]);
        }
        if (keys.Length < ScoreFloats(maxCount) * headDim || values.Length < maxCount * headDim || scratch.Length < ScratchFloats(maxCount, headDim))
            throw new ArgumentException("attention spans do not match head size and counts");
        Span<int> tileCounts = stackalloc int[MaxTile];
        fixed (float* q0 = queries)
        fixed (ushort* k0 = keys)
        fixed (ushort* v0 = values)
        fixed (float* s0 = scratch)
        fixed (float* o0 = output)
        fixed (int* c0 = tileCounts)
        {
            for (int i = 0; i < n;)
            {
                // Even tiles: 9 queries as 5 + 4, not 8 + 1 (a lone query pays every widening for one output).
                int left = n - i, tiles = (left + MaxTile - 1) / MaxTile, t = (left + tiles - 1) / tiles;
                int tileMax = 0;
                for (int j = 0; j < t; j++) tileMax = Math.Max(tileMax, c0[j] = counts[i + j]);
                int scoreFloats = ScoreFloats(tileMax);
                float* shifted = s0 + MaxTile * scoreFloats; // the tile's queries times 2^112, then its outputs
                for (int j = 0; j < t; j++)
                    TensorPrimitives.Multiply(new ReadOnlySpan<float>(q0 + offsets[i + j], headDim), Shift, new Span<float>(shifted + j * headDim, headDim));
                switch (t)
                {
                    case 1: Tile<TileOf1>(shifted, headDim, k0, v0, c0, scoreFloats, scale, s0, softCap, window); break;
                    case 2: Tile<TileOf2>(shifted, headDim, k0, v0, c0, scoreFloats, scale, s0, softCap, window); break;
                    case 3: Tile<TileOf3>(shifted, headDim, k0, v0, c0, scoreFloats, scale, s0, softCap, window); break;
                    case 4: Tile<TileOf4>(shifted, headDim, k0, v0, c0, scoreFloats, scale, s0, softCap, window); break;
                    case 5: Tile<TileOf5>(shifted, headDim, k0, v0, c0, scoreFloats, scale, s0, softCap, window); break;
                    case 6: Tile<TileOf6>(shifted, headDim, k0, v0, c0, scoreFloats, scale, s0, softCap, window); break;
                    case 7: Tile<TileOf7>(shifted, headDim, k0, v0, c0, scoreFloats, scale, s0, softCap, window); break;
                    default: Tile<TileOf8>(shifted, headDim, k0, v0, c0, scoreFloats, scale, s0, softCap, window); break;
                }
                for (int j = 0; j < t; j++)
                    new ReadOnlySpan<float>(shifted + j * headDim, headDim).CopyTo(new Span<float>(o0 + offsets[i + j], headDim));
                i += t;
            }
        }
    }

    /// <summary>
    /// One tile: scores of every query over the tile's longest prefix (lanes past a query's count are ignored),
    /// each query's softmax over its own count, then values: every query together over the positions all attend
    /// to, then each alone over the rest of its prefix, continuing the same per-lane chain. The outputs replace
    /// the queries in <paramref name="q"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile<T>(float* q, int headDim, ushort* k, ushort* v, int* counts, int scoreFloats, float scale, float* scores, float softCap, int window)
        where T : struct, ITileSize
    {
        if (Avx512F.IsSupported && headDim % 16 == 0)
        {
            if (T.Count <= 4) Scores512Pairs<T>(q, headDim, k, scoreFloats, scale, scores);
            else Scores512<T>(q, headDim, k, scoreFloats, scale, scores);
        }
        else if (Avx2.IsSupported && Fma.IsSupported) Scores256<T>(q, headDim, k, scoreFloats, scale, scores);
        else ScoresScalar(T.Count, q, headDim, k, scoreFloats, scale, scores);

        int minCount = int.MaxValue;
        for (int t = 0; t < T.Count; t++)
        {
            var s = new Span<float>(scores + t * scoreFloats, counts[t]);
            if (softCap != 0f)
            {
                TensorPrimitives.Multiply(s, 1f / softCap, s);
                TensorPrimitives.Tanh(s, s);
                TensorPrimitives.Multiply(s, softCap, s);
            }
            if (window > 0 && counts[t] > window) s[..(counts[t] - window)].Fill(float.NegativeInfinity);
            float max = TensorPrimitives.Max(s);
            TensorPrimitives.Subtract(s, max, s);
            TensorPrimitives.Exp(s, s);
            TensorPrimitives.Multiply(s, 1f / TensorPrimitives.Sum(s) * Shift, s);
            minCount = Math.Min(minCount, counts[t]);
        }

        if (Avx512F.IsSupported && headDim % 32 == 0)
        {
            if (T.Count <= 4 && headDim % 64 == 0) Values512Wide<T>(headDim, v, minCount, scoreFloats, scores, q);
            else Values512<T>(headDim, v, minCount, scoreFloats, scores, q);
            for (int t = 0; t < T.Count; t++)
                if (counts[t] > minCount) ValuesTail512(headDim, v, minCount, counts[t], scores + t * scoreFloats, q + t * headDim);
        }
        else if (Avx2.IsSupported && Fma.IsSupported && headDim % 8 == 0)
        {
            Values256<T>(headDim, v, minCount, scoreFloats, scores, q);
            for (int t = 0; t < T.Count; t++)
                if (counts[t] > minCount) ValuesTail256(headDim, v, minCount, counts[t], scores + t * scoreFloats, q + t * headDim);
        }
        else
        {
            for (int t = 0; t < T.Count; t++) ValuesScalar(headDim, v, counts[t], scores + t * scoreFloats, q + t * headDim);
        }
    }

    // ---------- scores: per lane (position), a fused multiply-add chain over the dimensions, in order ----------

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Scores512<T>(float* q, int headDim, ushort* k, int scoreFloats, float scale, float* scores, int from = 0) where T : struct, ITileSize
    {
        float* q1 = q + headDim, q2 = q1 + headDim, q3 = q2 + headDim, q4 = q3 + headDim, q5 = q4 + headDim, q6 = q5 + headDim, q7 = q6 + headDim;
        var vs = Vector512.Create(scale);
        for (int b = from; b < scoreFloats; b += 16)
        {
            ushort* kb = k + b * headDim;
            Vector512<float> a0 = Vector512<float>.Zero, a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
            for (int d = 0; d < headDim; d++)
            {
                if ((d & 1) == 0) StreamPrefetch.Line((byte*)(kb + d * 16)); // two dimensions a cache line
                var kv = Widen512(kb + d * 16);
                a0 = Avx512F.FusedMultiplyAdd(Vector512.Create(q[d]), kv, a0);
                if (T.Count > 1) a1 = Avx512F.FusedMultiplyAdd(Vector512.Create(q1[d]), kv, a1);
                if (T.Count > 2) a2 = Avx512F.FusedMultiplyAdd(Vector512.Create(q2[d]), kv, a2);
                if (T.Count > 3) a3 = Avx512F.FusedMultiplyAdd(Vector512.Create(q3[d]), kv, a3);
                if (T.Count > 4) a4 = Avx512F.FusedMultiplyAdd(Vector512.Create(q4[d]), kv, a4);
                if (T.Count > 5) a5 = Avx512F.FusedMultiplyAdd(Vector512.Create(q5[d]), kv, a5);
                if (T.Count > 6) a6 = Avx512F.FusedMultiplyAdd(Vector512.Create(q6[d]), kv, a6);
                if (T.Count > 7) a7 = Avx512F.FusedMultiplyAdd(Vector512.Create(q7[d]), kv, a7);
            }
            (a0 * vs).Store(scores + b);
            if (T.Count > 1) (a1 * vs).Store(scores + scoreFloats + b);
            if (T.Count > 2) (a2 * vs).Store(scores + 2 * scoreFloats + b);
            if (T.Count > 3) (a3 * vs).Store(scores + 3 * scoreFloats + b);
            if (T.Count > 4) (a4 * vs).Store(scores + 4 * scoreFloats + b);
            if (T.Count > 5) (a5 * vs).Store(scores + 5 * scoreFloats + b);
            if (T.Count > 6) (a6 * vs).Store(scores + 6 * scoreFloats + b);
            if (T.Count > 7) (a7 * vs).Store(scores + 7 * scoreFloats + b);
        }
    }

    /// <summary>
    /// <see cref="Scores512{T}"/> for tiles of up to four queries, two blocks of 16 positions at a time: with four
    /// chains or fewer the fused multiply-adds waited on each other's latency (one row's three heads ran at about
    /// three quarters of one a cycle). Each lane's chain is the same, so are its bits. An odd last block is
    /// <see cref="Scores512{T}"/>'s.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Scores512Pairs<T>(float* q, int headDim, ushort* k, int scoreFloats, float scale, float* scores) where T : struct, ITileSize
    {
        float* q1 = q + headDim, q2 = q1 + headDim, q3 = q2 + headDim;
        var vs = Vector512.Create(scale);
        int b = 0;
        for (; b + 32 <= scoreFloats; b += 32)
        {
            ushort* kb = k + b * headDim, kc = kb + 16 * headDim;
            Vector512<float> a0 = Vector512<float>.Zero, a1 = a0, a2 = a0, a3 = a0, c0 = a0, c1 = a0, c2 = a0, c3 = a0;
            for (int d = 0; d < headDim; d++)
            {
                if ((d & 1) == 0)
                {
                    StreamPrefetch.Line((byte*)(kb + d * 16)); // two dimensions a cache line
                    StreamPrefetch.Line((byte*)(kc + d * 16));
                }
                var kv = Widen512(kb + d * 16);
                var kw = Widen512(kc + d * 16);
                var w0 = Vector512.Create(q[d]);
                a0 = Avx512F.FusedMultiplyAdd(w0, kv, a0);
                c0 = Avx512F.FusedMultiplyAdd(w0, kw, c0);
                if (T.Count > 1)
                {
                    var w1 = Vector512.Create(q1[d]);
                    a1 = Avx512F.FusedMultiplyAdd(w1, kv, a1);
                    c1 = Avx512F.FusedMultiplyAdd(w1, kw, c1);
                }
                if (T.Count > 2)
                {
                    var w2 = Vector512.Create(q2[d]);
                    a2 = Avx512F.FusedMultiplyAdd(w2, kv, a2);
                    c2 = Avx512F.FusedMultiplyAdd(w2, kw, c2);
                }
                if (T.Count > 3)
                {
                    var w3 = Vector512.Create(q3[d]);
                    a3 = Avx512F.FusedMultiplyAdd(w3, kv, a3);
                    c3 = Avx512F.FusedMultiplyAdd(w3, kw, c3);
                }
            }
            (a0 * vs).Store(scores + b);
            (c0 * vs).Store(scores + b + 16);
            if (T.Count > 1) { (a1 * vs).Store(scores + scoreFloats + b); (c1 * vs).Store(scores + scoreFloats + b + 16); }
            if (T.Count > 2) { (a2 * vs).Store(scores + 2 * scoreFloats + b); (c2 * vs).Store(scores + 2 * scoreFloats + b + 16); }
            if (T.Count > 3) { (a3 * vs).Store(scores + 3 * scoreFloats + b); (c3 * vs).Store(scores + 3 * scoreFloats + b + 16); }
        }
        if (b < scoreFloats) Scores512<T>(q, headDim, k, scoreFloats, scale, scores, from: b);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Scores256<T>(float* q, int headDim, ushort* k, int scoreFloats, float scale, float* scores) where T : struct, ITileSize
    {
        float* q1 = q + headDim, q2 = q1 + headDim, q3 = q2 + headDim, q4 = q3 + headDim, q5 = q4 + headDim, q6 = q5 + headDim, q7 = q6 + headDim;
        var vs = Vector256.Create(scale);
        for (int b = 0; b < scoreFloats; b += 8)
        {
            // Lanes 0-7 or 8-15 of a block: the same per-lane chain as the 16-lane path.
            ushort* kb = k + (b & ~15) * headDim + (b & 8);
            bool firstHalf = (b & 8) == 0; // the pass that brings the block's lines in
            Vector256<float> a0 = Vector256<float>.Zero, a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
            for (int d = 0; d < headDim; d++)
            {
                if (firstHalf && (d & 1) == 0) StreamPrefetch.Line((byte*)(kb + d * 16)); // two dimensions a cache line
                var kv = Widen256(kb + d * 16);
                a0 = Fma.MultiplyAdd(Vector256.Create(q[d]), kv, a0);
                if (T.Count > 1) a1 = Fma.MultiplyAdd(Vector256.Create(q1[d]), kv, a1);
                if (T.Count > 2) a2 = Fma.MultiplyAdd(Vector256.Create(q2[d]), kv, a2);
                if (T.Count > 3) a3 = Fma.MultiplyAdd(Vector256.Create(q3[d]), kv, a3);
                if (T.Count > 4) a4 = Fma.MultiplyAdd(Vector256.Create(q4[d]), kv, a4);
                if (T.Count > 5) a5 = Fma.MultiplyAdd(Vector256.Create(q5[d]), kv, a5);
                if (T.Count > 6) a6 = Fma.MultiplyAdd(Vector256.Create(q6[d]), kv, a6);
                if (T.Count > 7) a7 = Fma.MultiplyAdd(Vector256.Create(q7[d]), kv, a7);
            }
            (a0 * vs).Store(scores + b);
            if (T.Count > 1) (a1 * vs).Store(scores + scoreFloats + b);
            if (T.Count > 2) (a2 * vs).Store(scores + 2 * scoreFloats + b);
            if (T.Count > 3) (a3 * vs).Store(scores + 3 * scoreFloats + b);
            if (T.Count > 4) (a4 * vs).Store(scores + 4 * scoreFloats + b);
            if (T.Count > 5) (a5 * vs).Store(scores + 5 * scoreFloats + b);
            if (T.Count > 6) (a6 * vs).Store(scores + 6 * scoreFloats + b);
            if (T.Count > 7) (a7 * vs).Store(scores + 7 * scoreFloats + b);
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

    /// <summary>Positions [0, count) for every query of the tile, 32 dimensions at a time; outputs to output + t * headDim.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Values512<T>(int headDim, ushort* v, int count, int scoreFloats, float* p, float* output) where T : struct, ITileSize
    {
        float* p1 = p + scoreFloats, p2 = p1 + scoreFloats, p3 = p2 + scoreFloats, p4 = p3 + scoreFloats, p5 = p4 + scoreFloats, p6 = p5 + scoreFloats, p7 = p6 + scoreFloats;
        for (int c = 0; c < headDim; c += 32)
        {
            Vector512<float> a00 = Vector512<float>.Zero, a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
            Vector512<float> a40 = a00, a41 = a00, a50 = a00, a51 = a00, a60 = a00, a61 = a00, a70 = a00, a71 = a00;
            for (int j = 0; j < count; j++)
            {
                ushort* row = v + j * headDim + c;
                StreamPrefetch.Line((byte*)row);
                var v0 = Widen512(row);
                var v1 = Widen512(row + 16);
                var w = Vector512.Create(p[j]);
                a00 = Avx512F.FusedMultiplyAdd(v0, w, a00);
                a01 = Avx512F.FusedMultiplyAdd(v1, w, a01);
                if (T.Count > 1)
                {
                    w = Vector512.Create(p1[j]);
                    a10 = Avx512F.FusedMultiplyAdd(v0, w, a10);
                    a11 = Avx512F.FusedMultiplyAdd(v1, w, a11);
                }
                if (T.Count > 2)
                {
                    w = Vector512.Create(p2[j]);
                    a20 = Avx512F.FusedMultiplyAdd(v0, w, a20);
                    a21 = Avx512F.FusedMultiplyAdd(v1, w, a21);
                }
                if (T.Count > 3)
                {
                    w = Vector512.Create(p3[j]);
                    a30 = Avx512F.FusedMultiplyAdd(v0, w, a30);
                    a31 = Avx512F.FusedMultiplyAdd(v1, w, a31);
                }
                if (T.Count > 4)
                {
                    w = Vector512.Create(p4[j]);
                    a40 = Avx512F.FusedMultiplyAdd(v0, w, a40);
                    a41 = Avx512F.FusedMultiplyAdd(v1, w, a41);
                }
                if (T.Count > 5)
                {
                    w = Vector512.Create(p5[j]);
                    a50 = Avx512F.FusedMultiplyAdd(v0, w, a50);
                    a51 = Avx512F.FusedMultiplyAdd(v1, w, a51);
                }
                if (T.Count > 6)
                {
                    w = Vector512.Create(p6[j]);
                    a60 = Avx512F.FusedMultiplyAdd(v0, w, a60);
                    a61 = Avx512F.FusedMultiplyAdd(v1, w, a61);
                }
                if (T.Count > 7)
                {
                    w = Vector512.Create(p7[j]);
                    a70 = Avx512F.FusedMultiplyAdd(v0, w, a70);
                    a71 = Avx512F.FusedMultiplyAdd(v1, w, a71);
                }
            }
            Store2(output + c, a00, a01);
            if (T.Count > 1) Store2(output + 1 * headDim + c, a10, a11);
            if (T.Count > 2) Store2(output + 2 * headDim + c, a20, a21);
            if (T.Count > 3) Store2(output + 3 * headDim + c, a30, a31);
            if (T.Count > 4) Store2(output + 4 * headDim + c, a40, a41);
            if (T.Count > 5) Store2(output + 5 * headDim + c, a50, a51);
            if (T.Count > 6) Store2(output + 6 * headDim + c, a60, a61);
            if (T.Count > 7) Store2(output + 7 * headDim + c, a70, a71);
        }
    }

    /// <summary>
    /// <see cref="Values512{T}"/> for tiles of up to four queries, 64 dimensions at a time: four chains a query instead
    /// of two, so a small tile is not held up by the multiply-adds' latency. The same chain per output element, the
    /// same bits.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Values512Wide<T>(int headDim, ushort* v, int count, int scoreFloats, float* p, float* output) where T : struct, ITileSize
    {
        float* p1 = p + scoreFloats, p2 = p1 + scoreFloats, p3 = p2 + scoreFloats;
        for (int c = 0; c < headDim; c += 64)
        {
            Vector512<float> a00 = Vector512<float>.Zero, a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00;
            Vector512<float> a20 = a00, a21 = a00, a22 = a00, a23 = a00, a30 = a00, a31 = a00, a32 = a00, a33 = a00;
            for (int j = 0; j < count; j++)
            {
                ushort* row = v + j * headDim + c;
                StreamPrefetch.Lines((byte*)row, 2);
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
            Store2(output + c, a00, a01);
            Store2(output + c + 32, a02, a03);
            if (T.Count > 1) { Store2(output + headDim + c, a10, a11); Store2(output + headDim + c + 32, a12, a13); }
            if (T.Count > 2) { Store2(output + 2 * headDim + c, a20, a21); Store2(output + 2 * headDim + c + 32, a22, a23); }
            if (T.Count > 3) { Store2(output + 3 * headDim + c, a30, a31); Store2(output + 3 * headDim + c + 32, a32, a33); }
        }
    }

    /// <summary>Continues one query's chains over positions [from, to), its running sums in output.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ValuesTail512(int headDim, ushort* v, int from, int to, float* p, float* output)
    {
        for (int c = 0; c < headDim; c += 16)
        {
            var acc = Vector512.Load(output + c);
            for (int j = from; j < to; j++) acc = Avx512F.FusedMultiplyAdd(Widen512(v + j * headDim + c), Vector512.Create(p[j]), acc);
            acc.Store(output + c);
        }
    }

    /// <summary>Positions [0, count) for every query of the tile, 8 dimensions at a time; outputs to output + t * headDim.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Values256<T>(int headDim, ushort* v, int count, int scoreFloats, float* p, float* output) where T : struct, ITileSize
    {
        float* p1 = p + scoreFloats, p2 = p1 + scoreFloats, p3 = p2 + scoreFloats, p4 = p3 + scoreFloats, p5 = p4 + scoreFloats, p6 = p5 + scoreFloats, p7 = p6 + scoreFloats;
        for (int c = 0; c < headDim; c += 8)
        {
            bool lineStart = (c & 31) == 0; // the pass that brings each value row's line in
            Vector256<float> a0 = Vector256<float>.Zero, a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
            for (int j = 0; j < count; j++)
            {
                if (lineStart) StreamPrefetch.Line((byte*)(v + j * headDim + c));
                var v0 = Widen256(v + j * headDim + c);
                a0 = Fma.MultiplyAdd(v0, Vector256.Create(p[j]), a0);
                if (T.Count > 1) a1 = Fma.MultiplyAdd(v0, Vector256.Create(p1[j]), a1);
                if (T.Count > 2) a2 = Fma.MultiplyAdd(v0, Vector256.Create(p2[j]), a2);
                if (T.Count > 3) a3 = Fma.MultiplyAdd(v0, Vector256.Create(p3[j]), a3);
                if (T.Count > 4) a4 = Fma.MultiplyAdd(v0, Vector256.Create(p4[j]), a4);
                if (T.Count > 5) a5 = Fma.MultiplyAdd(v0, Vector256.Create(p5[j]), a5);
                if (T.Count > 6) a6 = Fma.MultiplyAdd(v0, Vector256.Create(p6[j]), a6);
                if (T.Count > 7) a7 = Fma.MultiplyAdd(v0, Vector256.Create(p7[j]), a7);
            }
            a0.Store(output + c);
            if (T.Count > 1) a1.Store(output + 1 * headDim + c);
            if (T.Count > 2) a2.Store(output + 2 * headDim + c);
            if (T.Count > 3) a3.Store(output + 3 * headDim + c);
            if (T.Count > 4) a4.Store(output + 4 * headDim + c);
            if (T.Count > 5) a5.Store(output + 5 * headDim + c);
            if (T.Count > 6) a6.Store(output + 6 * headDim + c);
            if (T.Count > 7) a7.Store(output + 7 * headDim + c);
        }
    }

    /// <summary>Continues one query's chains over positions [from, to), its running sums in output.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ValuesTail256(int headDim, ushort* v, int from, int to, float* p, float* output)
    {
        for (int c = 0; c < headDim; c += 8)
        {
            var acc = Vector256.Load(output + c);
            for (int j = from; j < to; j++) acc = Fma.MultiplyAdd(Widen256(v + j * headDim + c), Vector256.Create(p[j]), acc);
            acc.Store(output + c);
        }
    }

    /// <summary>One query over positions [0, count).</summary>
    private static void ValuesScalar(int headDim, ushort* v, int count, float* p, float* output)
    {
        for (int d = 0; d < headDim; d++)
        {
            float acc = 0;
            for (int j = 0; j < count; j++) acc = MathF.FusedMultiplyAdd(WidenScalar(v[j * headDim + d]), p[j], acc);
            output[d] = acc;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store2(float* o, Vector512<float> a, Vector512<float> b)
    {
        a.Store(o);
        b.Store(o + 16);
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
