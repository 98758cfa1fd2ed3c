// FloatGemm: the float32 matrix products of calibration (ridge statistics, distillation), all row-major.
//   MultiplyTransposed(a (m x k), b (n x k), c (m x n)): c = a b^T  (each output a dot of two rows)
//   Multiply(a (m x k), b (k x n), c (m x n)):          c = a b    (rows of b scaled and summed)
// Calibration owns these (not Kernels/): they are not batch invariant and need not be; they only fit exit heads.
// Both split the rows of c across threads and tile 4 x 4 outputs (a b^T) or 4 rows x 64 columns (a b) in
// registers so each loaded vector feeds several FMAs. References beside them; tests check the two agree.
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace SelfSpec.Calibration;

internal static class FloatGemm
{
    /// <summary>c (m x n) = a (m x k) b^T, b (n x k). Rows of c are split across <paramref name="threads"/>.</summary>
    public static void MultiplyTransposed(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int m, int n, int k, int threads = 1)
    {
        Check(a.Length, (long)m * k, b.Length, (long)n * k, c.Length, (long)m * n);
        if (m == 0 || n == 0) return;
        unsafe
        {
            fixed (float* pa = a)
            fixed (float* pb = b)
            fixed (float* pc = c)
            {
                float* A = pa, B = pb, C = pc;
                // Work units: blocks of 4 rows of c (or of 4 rows of b when m is small, as for one-row evaluations).
                if (m >= 4 * threads || n < 64)
                {
                    int blocks = (m + 3) / 4;
                    For(blocks, threads, blk => TransposedBlock(A, B, C, Math.Min(blk * 4, m), Math.Min(blk * 4 + 4, m), 0, n, n, k));
                }
                else
                {
                    int blocks = (n + 255) / 256;
                    For(blocks, threads, blk => TransposedBlock(A, B, C, 0, m, blk * 256, Math.Min(n, blk * 256 + 256), n, k));
                }
            }
        }
    }

    /// <summary>c (m x n) = a (m x k) b (k x n); <paramref name="accumulate"/> adds to c instead of overwriting.</summary>
    public static void Multiply(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int m, int n, int k, int threads = 1, bool accumulate = false)
    {
        Check(a.Length, (long)m * k, b.Length, (long)k * n, c.Length, (long)m * n);
        if (m == 0 || n == 0) return;
        if (!accumulate) c[..(m * n)].Clear();
        unsafe
        {
            fixed (float* pa = a)
            fixed (float* pb = b)
            fixed (float* pc = c)
            {
                float* A = pa, B = pb, C = pc;
                int rowBlocks = (m + 3) / 4, colBlocks = (n + 63) / 64;
                For(rowBlocks * colBlocks, threads, job =>
                {
                    int r0 = job / colBlocks * 4, c0 = job % colBlocks * 64;
                    PlainBlock(A, B, C, r0, Math.Min(r0 + 4, m), c0, Math.Min(c0 + 64, n), n, k);
                });
            }
        }
    }

    /// <summary>Plain reference of <see cref="MultiplyTransposed"/>.</summary>
    public static void MultiplyTransposedReference(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int m, int n, int k)
    {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int t = 0; t < k; t++) s += (double)a[i * k + t] * b[j * k + t];
                c[i * n + j] = (float)s;
            }
    }

    /// <summary>Plain reference of <see cref="Multiply"/> (overwriting).</summary>
    public static void MultiplyReference(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int m, int n, int k)
    {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int t = 0; t < k; t++) s += (double)a[i * k + t] * b[t * n + j];
                c[i * n + j] = (float)s;
            }
    }

    private static void Check(long a, long needA, long b, long needB, long c, long needC)
    {
        if (a < needA || b < needB || c < needC)
            throw new ArgumentException($"FloatGemm: buffers hold {a}/{needA}, {b}/{needB}, {c}/{needC} floats");
    }

    private static void For(int count, int threads, Action<int> body)
    {
        if (threads <= 1 || count == 1)
        {
            for (int i = 0; i < count; i++) body(i);
            return;
        }
        // Contiguous chunks, one per thread: the jobs are uniform and each call is milliseconds long.
        int chunks = Math.Min(threads, count);
        Parallel.For(0, chunks, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
        {
            int start = (int)((long)count * t / chunks), end = (int)((long)count * (t + 1) / chunks);
            for (int i = start; i < end; i++) body(i);
        });
    }

    /// <summary>c[i, j] for i in [i0, i1), j in [j0, j1): dots of a's and b's rows, 4 x 4 at a time.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void TransposedBlock(float* a, float* b, float* c, int i0, int i1, int j0, int j1, int ldc, int k)
    {
        int kv = Vector512.IsHardwareAccelerated ? k & ~15 : 0;
        int j = j0;
        if (i1 - i0 == 4 && kv > 0)
        {
            float* a0 = a + (long)i0 * k, a1 = a0 + k, a2 = a1 + k, a3 = a2 + k;
            for (; j + 4 <= j1; j += 4)
            {
                float* b0 = b + (long)j * k, b1 = b0 + k, b2 = b1 + k, b3 = b2 + k;
                Vector512<float> s00 = default, s01 = default, s02 = default, s03 = default;
                Vector512<float> s10 = default, s11 = default, s12 = default, s13 = default;
                Vector512<float> s20 = default, s21 = default, s22 = default, s23 = default;
                Vector512<float> s30 = default, s31 = default, s32 = default, s33 = default;
                for (int t = 0; t < kv; t += 16)
                {
                    var x0 = Vector512.Load(a0 + t); var x1 = Vector512.Load(a1 + t);
                    var x2 = Vector512.Load(a2 + t); var x3 = Vector512.Load(a3 + t);
                    var y = Vector512.Load(b0 + t);
                    s00 = Vector512.FusedMultiplyAdd(x0, y, s00); s10 = Vector512.FusedMultiplyAdd(x1, y, s10);
                    s20 = Vector512.FusedMultiplyAdd(x2, y, s20); s30 = Vector512.FusedMultiplyAdd(x3, y, s30);
                    y = Vector512.Load(b1 + t);
                    s01 = Vector512.FusedMultiplyAdd(x0, y, s01); s11 = Vector512.FusedMultiplyAdd(x1, y, s11);
                    s21 = Vector512.FusedMultiplyAdd(x2, y, s21); s31 = Vector512.FusedMultiplyAdd(x3, y, s31);
                    y = Vector512.Load(b2 + t);
                    s02 = Vector512.FusedMultiplyAdd(x0, y, s02); s12 = Vector512.FusedMultiplyAdd(x1, y, s12);
                    s22 = Vector512.FusedMultiplyAdd(x2, y, s22); s32 = Vector512.FusedMultiplyAdd(x3, y, s32);
                    y = Vector512.Load(b3 + t);
                    s03 = Vector512.FusedMultiplyAdd(x0, y, s03); s13 = Vector512.FusedMultiplyAdd(x1, y, s13);
                    s23 = Vector512.FusedMultiplyAdd(x2, y, s23); s33 = Vector512.FusedMultiplyAdd(x3, y, s33);
                }
                float* c0 = c + (long)i0 * ldc + j;
                Store(c0, s00, s01, s02, s03, a0, b0, b1, b2, b3, kv, k);
                Store(c0 + ldc, s10, s11, s12, s13, a1, b0, b1, b2, b3, kv, k);
                Store(c0 + 2 * ldc, s20, s21, s22, s23, a2, b0, b1, b2, b3, kv, k);
                Store(c0 + 3 * ldc, s30, s31, s32, s33, a3, b0, b1, b2, b3, kv, k);
            }
        }
        for (int i = i0; i < i1; i++)
        {
            var ra = new ReadOnlySpan<float>(a + (long)i * k, k);
            for (int jj = j; jj < j1; jj++)
                c[(long)i * ldc + jj] = TensorPrimitives.Dot(ra, new ReadOnlySpan<float>(b + (long)jj * k, k));
        }
    }

    /// <summary>Sums each accumulator and adds the scalar tail of the dot (a row of the 4 x 4 tile).</summary>
    private static unsafe void Store(float* c, Vector512<float> s0, Vector512<float> s1, Vector512<float> s2, Vector512<float> s3,
        float* a0, float* b0, float* b1, float* b2, float* b3, int kv, int k)
    {
        float t0 = Vector512.Sum(s0), t1 = Vector512.Sum(s1), t2 = Vector512.Sum(s2), t3 = Vector512.Sum(s3);
        for (int t = kv; t < k; t++)
        {
            t0 += a0[t] * b0[t]; t1 += a0[t] * b1[t]; t2 += a0[t] * b2[t]; t3 += a0[t] * b3[t];
        }
        c[0] = t0; c[1] = t1; c[2] = t2; c[3] = t3;
    }

    /// <summary>c[i0..i1, j0..j1] += a[i0..i1, :] b[:, j0..j1], 4 rows x 64 columns of accumulators.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void PlainBlock(float* a, float* b, float* c, int i0, int i1, int j0, int j1, int ldb, int k)
    {
        if (i1 - i0 == 4 && j1 - j0 == 64 && Vector512.IsHardwareAccelerated)
        {
            float* c0 = c + (long)i0 * ldb + j0, c1 = c0 + ldb, c2 = c1 + ldb, c3 = c2 + ldb;
            var s00 = Vector512.Load(c0); var s01 = Vector512.Load(c0 + 16); var s02 = Vector512.Load(c0 + 32); var s03 = Vector512.Load(c0 + 48);
            var s10 = Vector512.Load(c1); var s11 = Vector512.Load(c1 + 16); var s12 = Vector512.Load(c1 + 32); var s13 = Vector512.Load(c1 + 48);
            var s20 = Vector512.Load(c2); var s21 = Vector512.Load(c2 + 16); var s22 = Vector512.Load(c2 + 32); var s23 = Vector512.Load(c2 + 48);
            var s30 = Vector512.Load(c3); var s31 = Vector512.Load(c3 + 16); var s32 = Vector512.Load(c3 + 32); var s33 = Vector512.Load(c3 + 48);
            float* a0 = a + (long)i0 * k, a1 = a0 + k, a2 = a1 + k, a3 = a2 + k;
            for (int t = 0; t < k; t++)
            {
                float* bt = b + (long)t * ldb + j0;
                var y0 = Vector512.Load(bt); var y1 = Vector512.Load(bt + 16); var y2 = Vector512.Load(bt + 32); var y3 = Vector512.Load(bt + 48);
                var x = Vector512.Create(a0[t]);
                s00 = Vector512.FusedMultiplyAdd(x, y0, s00); s01 = Vector512.FusedMultiplyAdd(x, y1, s01);
                s02 = Vector512.FusedMultiplyAdd(x, y2, s02); s03 = Vector512.FusedMultiplyAdd(x, y3, s03);
                x = Vector512.Create(a1[t]);
                s10 = Vector512.FusedMultiplyAdd(x, y0, s10); s11 = Vector512.FusedMultiplyAdd(x, y1, s11);
                s12 = Vector512.FusedMultiplyAdd(x, y2, s12); s13 = Vector512.FusedMultiplyAdd(x, y3, s13);
                x = Vector512.Create(a2[t]);
                s20 = Vector512.FusedMultiplyAdd(x, y0, s20); s21 = Vector512.FusedMultiplyAdd(x, y1, s21);
                s22 = Vector512.FusedMultiplyAdd(x, y2, s22); s23 = Vector512.FusedMultiplyAdd(x, y3, s23);
                x = Vector512.Create(a3[t]);
                s30 = Vector512.FusedMultiplyAdd(x, y0, s30); s31 = Vector512.FusedMultiplyAdd(x, y1, s31);
                s32 = Vector512.FusedMultiplyAdd(x, y2, s32); s33 = Vector512.FusedMultiplyAdd(x, y3, s33);
            }
            s00.Store(c0); s01.Store(c0 + 16); s02.Store(c0 + 32); s03.Store(c0 + 48);
            s10.Store(c1); s11.Store(c1 + 16); s12.Store(c1 + 32); s13.Store(c1 + 48);
            s20.Store(c2); s21.Store(c2 + 16); s22.Store(c2 + 32); s23.Store(c2 + 48);
            s30.Store(c3); s31.Store(c3 + 16); s32.Store(c3 + 32); s33.Store(c3 + 48);
            return;
        }
        int width = j1 - j0;
        for (int i = i0; i < i1; i++)
        {
            var row = new Span<float>(c + (long)i * ldb + j0, width);
            for (int t = 0; t < k; t++)
            {
                float x = a[(long)i * k + t];
                if (x != 0f) TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(b + (long)t * ldb + j0, width), x, row, row);
            }
        }
    }

    /// <summary>Transposes src (rows x cols) into dst (cols x rows).</summary>
    public static void Transpose(ReadOnlySpan<float> src, Span<float> dst, int rows, int cols)
    {
        for (int i = 0; i < rows; i++)
        {
            var r = src.Slice(i * cols, cols);
            for (int j = 0; j < cols; j++) dst[j * rows + i] = r[j];
        }
    }
}
