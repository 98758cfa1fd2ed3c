namespace SelfSpec.Calibration;

/// <summary>
/// An affine map from the hidden state after <see cref="Layer"/> layers toward the last layer's pre-norm state
/// (architecture.md 5, exit heads): z = A h + b, then the model's final norm and a draft head give the exit logits.
/// </summary>
internal sealed class Translator
{
    public Translator(int layer, int dim, float[] a, float[] b)
    {
        if (a.Length != dim * dim || b.Length != dim) throw new ArgumentException($"translator of dimension {dim}: A has {a.Length} values, b {b.Length}");
        Layer = layer;
        Dim = dim;
        A = a;
        B = b;
    }

    /// <summary>Exit after this many layers (1..L-1).</summary>
    public int Layer { get; }
    public int Dim { get; }
    /// <summary>(dim x dim) row-major: z_i = sum_j A[i, j] h_j + b_i.</summary>
    public float[] A { get; }
    /// <summary>(dim)</summary>
    public float[] B { get; }

    /// <summary>The logit lens: A = I, b = 0.</summary>
    public static Translator Identity(int layer, int dim)
    {
        var a = new float[dim * dim];
        for (int i = 0; i < dim; i++) a[i * dim + i] = 1f;
        return new Translator(layer, dim, a, new float[dim]);
    }

    public Translator Clone() => new(Layer, Dim, (float[])A.Clone(), (float[])B.Clone());

    /// <summary>z (n x dim) = h (n x dim) A^T + b.</summary>
    public void Apply(ReadOnlySpan<float> h, Span<float> z, int n, int threads = 1)
    {
        FloatGemm.MultiplyTransposed(h, A, z, n, Dim, Dim, threads);
        for (int i = 0; i < n; i++)
        {
            var row = z.Slice(i * Dim, Dim);
            System.Numerics.Tensors.TensorPrimitives.Add(row, B, row);
        }
    }
}
