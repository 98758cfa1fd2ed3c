using System.Numerics.Tensors;

namespace SelfSpec.Calibration;

/// <summary>
/// Closed-form ridge regression of targets y (dOut) on inputs x (dIn): minimizes |Y - X A^T - b|^2 + lambda |A|^2.
/// The bias is not penalized (both sides are centered on their training means). Sums are accumulated in double from
/// float products of chunks; the normal equations are solved by Cholesky in double.
/// </summary>
internal static class Ridge
{
    private const int Chunk = 512;

    /// <summary>The sufficient statistics of one fit: centered Gram matrix, cross products and means.</summary>
    public sealed class Statistics
    {
        public required int Count { get; init; }
        public required int DimIn { get; init; }
        public required int DimOut { get; init; }
        public required double[] XMean { get; init; }   // (dIn)
        public required double[] YMean { get; init; }   // (dOut)
        public required double[] Gram { get; init; }    // (dIn x dIn) sum of centered x x^T
        public required double[] Cross { get; init; }   // (dIn x dOut) sum of centered x y^T

        /// <summary>Mean of the Gram matrix's diagonal: the scale lambdas are given relative to.</summary>
        public double MeanVariance
        {
            get
            {
                double s = 0;
                for (int i = 0; i < DimIn; i++) s += Gram[i * DimIn + i];
                return s / DimIn;
            }
        }
    }

    public static Statistics Accumulate(IRowSource x, IRowSource y, ReadOnlySpan<int> rows, int threads)
    {
        int dIn = x.Dim, dOut = y.Dim, n = rows.Length;
        if (n == 0) throw new ArgumentException("ridge needs at least one row");
        var xMean = new double[dIn];
        var yMean = new double[dOut];
        var xb = new float[Chunk * dIn];
        var yb = new float[Chunk * dOut];
        for (int s = 0; s < n; s += Chunk)
        {
            int m = Math.Min(Chunk, n - s);
            x.Read(rows.Slice(s, m), xb);
            y.Read(rows.Slice(s, m), yb);
            for (int i = 0; i < m; i++)
            {
                for (int j = 0; j < dIn; j++) xMean[j] += xb[i * dIn + j];
                for (int j = 0; j < dOut; j++) yMean[j] += yb[i * dOut + j];
            }
        }
        for (int j = 0; j < dIn; j++) xMean[j] /= n;
        for (int j = 0; j < dOut; j++) yMean[j] /= n;

        var gram = new double[dIn * dIn];
        var cross = new double[dIn * dOut];
        var xt = new float[dIn * Chunk];
        var g = new float[dIn * dIn];
        var c = new float[dIn * dOut];
        var xm = Array.ConvertAll(xMean, v => (float)v);
        var ym = Array.ConvertAll(yMean, v => (float)v);
        for (int s = 0; s < n; s += Chunk)
        {
            int m = Math.Min(Chunk, n - s);
            x.Read(rows.Slice(s, m), xb);
            y.Read(rows.Slice(s, m), yb);
            for (int i = 0; i < m; i++)
            {
                TensorPrimitives.Subtract(xb.AsSpan(i * dIn, dIn), xm, xb.AsSpan(i * dIn, dIn));
                TensorPrimitives.Subtract(yb.AsSpan(i * dOut, dOut), ym, yb.AsSpan(i * dOut, dOut));
            }
            FloatGemm.Transpose(xb, xt, m, dIn);
            FloatGemm.Multiply(xt, yb, c, dIn, dOut, m, threads);
            FloatGemm.Multiply(xt, xb, g, dIn, dIn, m, threads);
            for (int i = 0; i < gram.Length; i++) gram[i] += g[i];
            for (int i = 0; i < cross.Length; i++) cross[i] += c[i];
        }
        return new Statistics { Count = n, DimIn = dIn, DimOut = dOut, XMean = xMean, YMean = yMean, Gram = gram, Cross = cross };
    }

    /// <summary>A (dOut x dIn) = ((G + lambda I)^-1 C)^T, b = yMean - A xMean.</summary>
    public static Translator Solve(Statistics s, double lambda, int layer)
    {
        if (s.DimIn != s.DimOut) throw new ArgumentException("a translator maps a space onto itself");
        int d = s.DimIn;
        var l = (double[])s.Gram.Clone();
        for (int i = 0; i < d; i++) l[i * d + i] += lambda;
        Cholesky(l, d);
        var z = (double[])s.Cross.Clone(); // (d x dOut): solve L L^T Z = C
        ForwardSubstitute(l, z, d, s.DimOut);
        BackSubstitute(l, z, d, s.DimOut);
        var a = new float[d * d];
        var b = new float[d];
        for (int i = 0; i < d; i++)        // output i
        {
            double bias = s.YMean[i];
            for (int j = 0; j < d; j++)    // input j
            {
                double v = z[j * d + i];
                a[i * d + j] = (float)v;
                bias -= v * s.XMean[j];
            }
            b[i] = (float)bias;
        }
        return new Translator(layer, d, a, b);
    }

    /// <summary>In place: the lower triangle of m (d x d, symmetric positive definite) becomes L with m = L L^T.</summary>
    public static void Cholesky(double[] m, int d)
    {
        for (int j = 0; j < d; j++)
        {
            var rj = m.AsSpan(j * d, j);
            double diag = m[j * d + j] - TensorPrimitives.Dot(rj, rj);
            if (!(diag > 0)) throw new InvalidOperationException($"ridge: matrix is not positive definite at column {j} (raise lambda)");
            double ljj = Math.Sqrt(diag);
            m[j * d + j] = ljj;
            for (int i = j + 1; i < d; i++)
                m[i * d + j] = (m[i * d + j] - TensorPrimitives.Dot(m.AsSpan(i * d, j), rj)) / ljj;
        }
    }

    /// <summary>Solves L Y = B in place (B: d x cols), L the lower triangle of l.</summary>
    private static void ForwardSubstitute(double[] l, double[] b, int d, int cols)
    {
        for (int i = 0; i < d; i++)
        {
            var row = b.AsSpan(i * cols, cols);
            for (int j = 0; j < i; j++)
                TensorPrimitives.MultiplyAdd(b.AsSpan(j * cols, cols), -l[i * d + j], row, row);
            TensorPrimitives.Multiply(row, 1.0 / l[i * d + i], row);
        }
    }

    /// <summary>Solves L^T X = Y in place.</summary>
    private static void BackSubstitute(double[] l, double[] b, int d, int cols)
    {
        for (int i = d - 1; i >= 0; i--)
        {
            var row = b.AsSpan(i * cols, cols);
            for (int j = i + 1; j < d; j++)
                TensorPrimitives.MultiplyAdd(b.AsSpan(j * cols, cols), -l[j * d + i], row, row);
            TensorPrimitives.Multiply(row, 1.0 / l[i * d + i], row);
        }
    }
}
