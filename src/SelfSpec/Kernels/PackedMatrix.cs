namespace SelfSpec.Kernels;

/// <summary>
/// A weight matrix repacked once at load into a layout made for this machine's SIMD kernels (PackedQ4,
/// PackedQ8_0), with the activation layout its products need. The forward pass uses one in place of the file's
/// bytes wherever a matrix has one; outputs are computed batch-invariantly like every other kernel.
/// </summary>
internal abstract class PackedMatrix
{
    public abstract int InDim { get; }
    public abstract int OutDim { get; }
    /// <summary>Bytes held in memory by the packed copy.</summary>
    public abstract long ByteSize { get; }

    /// <summary>The argument check of a row packer (<see cref="IRowPacker.PackRows"/>): rows [first, first + count) in range and their bytes present.</summary>
    protected void CheckRows(ReadOnlySpan<byte> rows, int first, int count, int fileRowBytes)
    {
        if (first < 0 || count < 0 || first + count > OutDim || rows.Length < (long)fileRowBytes * count)
            throw new ArgumentException($"rows [{first}, {first + count}) of {OutDim} need {(long)fileRowBytes * count} bytes, got {rows.Length}");
    }
    /// <summary>Products whose matrices share this key can share one quantized copy of their input.</summary>
    public abstract string ActivationFormat { get; }
    public abstract int ActivationRowBytes { get; }
    /// <summary>Quantizes n input rows (n x InDim floats) into dst (n x ActivationRowBytes).</summary>
    public abstract void QuantizeActivations(ReadOnlySpan<float> x, int n, Span<byte> dst);
    /// <summary>output[b, o] = dot(row o, input row b) for o in [colStart, colEnd); output is (batch x OutDim).</summary>
    public abstract void Rows(ReadOnlySpan<byte> activations, int batch, Span<float> output, int colStart, int colEnd);

    /// <summary>The argument check every packed product runs before touching memory through raw pointers.</summary>
    public void CheckProduct(ReadOnlySpan<byte> activations, int batch, Span<float> output, int colStart, int colEnd)
    {
        if (batch < 0 || colStart < 0 || colEnd < colStart || colEnd > OutDim)
            throw new ArgumentOutOfRangeException(nameof(colEnd), $"{GetType().Name}: bad range batch={batch} columns [{colStart}, {colEnd}) of {OutDim}.");
        if (activations.Length < (long)batch * ActivationRowBytes || output.Length < (long)batch * OutDim)
            throw new ArgumentException($"{GetType().Name}: activations {activations.Length} bytes, output {output.Length} floats for batch {batch}.");
    }
}
