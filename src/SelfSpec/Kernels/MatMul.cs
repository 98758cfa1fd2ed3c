// MatMul: output[b, o] = dot(weight row o, activation row b) for a column range of a quantized weight matrix.
// Shapes and parameter order of Rows: (weightType, weights = outDim rows of RowBytes(weightType, inDim) bytes,
// inDim, activations = batch rows of ActivationRowBytes(weightType, inDim) bytes, batch,
// output = batch x outDim floats row-major, outDim, colStart, colEnd): only columns [colStart, colEnd) are written.
// Batch invariance (architecture.md 2.1): every output value is computed by the same per-block instruction
// sequence on the same two rows, whatever the batch size, the row's place in the batch and the column split:
// the tile kernels (4 weight rows x 1 or 2 activation rows, for Q4_0 / Q4_1 / Q8_0) run the one-row kernel's
// step per output, and leftover columns use the one-row kernel; tests check bit equality. Threads should split
// by columns. Weight rows are the outer loop so each is read from memory once and stays in L1 while every
// batch row uses it.
using System.Runtime.CompilerServices;
using SelfSpec.Quantization;

namespace SelfSpec.Kernels;

internal static unsafe class MatMul
{
    /// <summary>Bytes of one activation row quantized for a dot with weightType rows of inDim elements.</summary>
    public static int ActivationRowBytes(GgmlType weightType, int inDim)
        => checked((int)GgmlTypeInfo.RowBytes(VecDot.ActivationType(weightType), inDim));

    /// <summary>Quantizes batch rows of x (batch x inDim floats) into dst (batch rows of ActivationRowBytes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void QuantizeActivations(GgmlType weightType, ReadOnlySpan<float> x, int batch, int inDim, Span<byte> dst)
    {
        GgmlType at = VecDot.ActivationType(weightType);
        int rb = ActivationRowBytes(weightType, inDim);
        if (x.Length < (long)batch * inDim || dst.Length < (long)batch * rb)
        {
            throw new ArgumentException($"QuantizeActivations: x holds {x.Length} floats (need {(long)batch * inDim}), dst {dst.Length} bytes (need {(long)batch * rb}).");
        }

        for (int b = 0; b < batch; b++)
        {
            Quantize.Row(at, x.Slice(b * inDim, inDim), dst.Slice(b * rb, rb));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Rows(GgmlType weightType, ReadOnlySpan<byte> weights, int inDim, ReadOnlySpan<byte> activations, int batch,
        Span<float> output, int outDim, int colStart, int colEnd)
    {
        Check(weightType, weights, inDim, activations, batch, output, outDim, colStart, colEnd, out int wb, out int ab);
        TensorTypeInfo info = VecDot.WeightRow(weightType);
        delegate*<byte*, byte*, int, float> kernel = info.Dot;
        delegate*<byte*, int, byte*, int, int, float*, int, int, void> tile = info.Tile;
        fixed (byte* pw0 = weights)
        fixed (byte* pa0 = activations)
        fixed (float* py = output)
        {
            int o = colStart;

            // Exception, measured: at batch 1 a Q8_0 matrix streamed from memory runs 3.5x faster one row at a time
            // than four interleaved rows (576 x 49152 output head: 1.3 ms vs 4.8 ms); from batch 2 the tile wins.
            // Either path gives the same bits.
            if (tile != null && (batch > 1 || weightType != GgmlType.Q8_0))
            {
                // 4 weight rows x 2 batch rows per call: each weight block and each activation block is unpacked
                // once for several outputs (batch 1 uses 4 x 1).
                for (; o + 4 <= colEnd; o += 4)
                {
                    byte* pw = pw0 + (long)o * wb;
                    int b = 0;
                    for (; b + 2 <= batch; b += 2)
                    {
                        tile(pw, wb, pa0 + (long)b * ab, ab, inDim, py + (long)b * outDim + o, outDim, 2);
                    }

                    if (b < batch)
                    {
                        tile(pw, wb, pa0 + (long)b * ab, ab, inDim, py + (long)b * outDim + o, outDim, 1);
                    }
                }
            }

            for (; o < colEnd; o++)
            {
                byte* pw = pw0 + (long)o * wb;
                for (int b = 0; b < batch; b++)
                {
                    py[(long)b * outDim + o] = kernel(pw, pa0 + (long)b * ab, inDim);
                }
            }
        }
    }

    /// <summary>Same contract as <see cref="Rows"/>, with the scalar reference dot product.</summary>
    public static void RowsReference(GgmlType weightType, ReadOnlySpan<byte> weights, int inDim, ReadOnlySpan<byte> activations, int batch,
        Span<float> output, int outDim, int colStart, int colEnd)
    {
        Check(weightType, weights, inDim, activations, batch, output, outDim, colStart, colEnd, out int wb, out int ab);
        for (int o = colStart; o < colEnd; o++)
        {
            for (int b = 0; b < batch; b++)
            {
                output[b * outDim + o] = VecDotReference.Dot(weightType, weights.Slice(o * wb, wb), activations.Slice(b * ab, ab), inDim);
            }
        }
    }

    private static void Check(GgmlType weightType, ReadOnlySpan<byte> weights, int inDim, ReadOnlySpan<byte> activations, int batch,
        Span<float> output, int outDim, int colStart, int colEnd, out int wb, out int ab)
    {
        wb = checked((int)GgmlTypeInfo.RowBytes(weightType, inDim));
        ab = ActivationRowBytes(weightType, inDim);
        if (batch < 0 || colStart < 0 || colEnd < colStart || colEnd > outDim)
        {
            throw new ArgumentOutOfRangeException(nameof(colEnd), $"MatMul: bad range batch={batch} columns [{colStart}, {colEnd}) of {outDim}.");
        }

        if (weights.Length < (long)outDim * wb || activations.Length < (long)batch * ab || output.Length < (long)batch * outDim)
        {
            throw new ArgumentException(
                $"MatMul: weights {weights.Length}/{(long)outDim * wb} bytes, activations {activations.Length}/{(long)batch * ab} bytes, output {output.Length}/{(long)batch * outDim} floats.");
        }
    }
}
