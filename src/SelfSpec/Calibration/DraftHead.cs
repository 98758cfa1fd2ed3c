using System.Numerics.Tensors;

namespace SelfSpec.Calibration;

/// <summary>
/// The output head restricted to a draft vocabulary, in float, for fitting and judging exits: logits over the
/// <see cref="Tokens"/> (most frequent first, so every prefix is a smaller draft vocabulary) of FinalNorm(z).
/// </summary>
internal sealed class DraftHead
{
    /// <param name="tokens">the draft vocabulary, most frequent first</param>
    /// <param name="weights">(tokens x dim) the head's rows for those tokens, dequantized</param>
    /// <param name="norm">(dim) the final norm's weight</param>
    public DraftHead(int[] tokens, float[] weights, float[] norm, float epsilon, int vocab)
    {
        Dim = norm.Length;
        if (weights.Length != tokens.Length * Dim) throw new ArgumentException("draft head: weights do not match tokens x dim");
        Tokens = tokens;
        Weights = weights;
        Norm = norm;
        Epsilon = epsilon;
        IndexOf = new int[vocab];
        Array.Fill(IndexOf, -1);
        for (int i = 0; i < tokens.Length; i++) IndexOf[tokens[i]] = i;
    }

    public int Dim { get; }
    public int Size => Tokens.Length;
    public int[] Tokens { get; }
    public float[] Weights { get; }
    public float[] Norm { get; }
    public float Epsilon { get; }
    /// <summary>(vocab) the draft index of each token, or -1.</summary>
    public int[] IndexOf { get; }

    /// <summary>u (n x dim) = FinalNorm(z); <paramref name="invRms"/> (n) receives each row's 1 / rms.</summary>
    public void Normalize(ReadOnlySpan<float> z, Span<float> u, Span<float> invRms, int n)
    {
        for (int i = 0; i < n; i++)
        {
            var zi = z.Slice(i * Dim, Dim);
            float inv = 1f / MathF.Sqrt(TensorPrimitives.SumOfSquares(zi) / Dim + Epsilon);
            invRms[i] = inv;
            var ui = u.Slice(i * Dim, Dim);
            TensorPrimitives.Multiply(zi, inv, ui);
            TensorPrimitives.Multiply(ui, Norm, ui);
        }
    }

    /// <summary>logits (n x columns) over the first <paramref name="columns"/> draft tokens from u = FinalNorm(z).</summary>
    public void Logits(ReadOnlySpan<float> u, Span<float> logits, int n, int columns, int threads) =>
        FloatGemm.MultiplyTransposed(u, Weights.AsSpan(0, columns * Dim), logits, n, columns, Dim, threads);

    /// <summary>A head of the first <paramref name="size"/> tokens (shares nothing mutable).</summary>
    public DraftHead Prefix(int size) =>
        size >= Size ? this : new DraftHead(Tokens[..size], Weights[..(size * Dim)], Norm, Epsilon, IndexOf.Length);
}
