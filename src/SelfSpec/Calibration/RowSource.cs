using System.Numerics.Tensors;

namespace SelfSpec.Calibration;

/// <summary>Rows of a (count x dim) matrix fetched by index, converted to float: recorded hidden states or targets.</summary>
internal interface IRowSource
{
    int Dim { get; }
    /// <summary>Writes rows <paramref name="rows"/> one after another into dst (rows.Length x Dim).</summary>
    void Read(ReadOnlySpan<int> rows, Span<float> dst);
}

/// <summary>Rows stored in half precision (the recorded hidden states: half the memory of float).</summary>
internal sealed class HalfRows(Half[] data, int dim) : IRowSource
{
    public int Dim => dim;
    public Half[] Data => data;

    public void Read(ReadOnlySpan<int> rows, Span<float> dst)
    {
        for (int i = 0; i < rows.Length; i++)
            TensorPrimitives.ConvertToSingle(data.AsSpan(rows[i] * dim, dim), dst.Slice(i * dim, dim));
    }
}

/// <summary>Rows stored as float (tests, small data).</summary>
internal sealed class FloatRows(float[] data, int dim) : IRowSource
{
    public int Dim => dim;

    public void Read(ReadOnlySpan<int> rows, Span<float> dst)
    {
        for (int i = 0; i < rows.Length; i++)
            data.AsSpan(rows[i] * dim, dim).CopyTo(dst.Slice(i * dim, dim));
    }
}
