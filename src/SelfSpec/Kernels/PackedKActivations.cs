// PackedKActivations: activation rows for the packed K-quant matrices (PackedQ4K, PackedQ6K), and the aligned
// storage those matrices live in.
//
// Each 256-element super-block is ggml's Q8_K block (bit for bit: ActivationQuantize.Q8_K), moved so that every
// 64-byte load of the kernels is one aligned cache line (the file's 292-byte blocks put the values at offset 4,
// so every 512-bit load splits across two lines):
//   qs[256] int8 at 0, bsums[16] int16 at 256 (sums of 16 values), d float at 288, sums32[8] int16 at 292 (sums of
//   32 values: the Q4_K sub-blocks', so its mins term is 4 pair products), 12 bytes of padding: 320 bytes.
// Q4_K and Q6_K matrices read the same rows, so q/k/v products share one quantized input whatever mix of the two
// types a Q4_K_M file gives them (architecture.md, "what decides speed").
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using SelfSpec.Quantization;

namespace SelfSpec.Kernels;

internal static unsafe class PackedKActivations
{
    public const int BlockBytes = 320;
    public const int SumsOffset = 256;
    public const int ScaleOffset = 288;
    public const int Sums32Offset = 292;

    /// <summary>The <see cref="PackedMatrix.ActivationFormat"/> of every matrix that reads these rows.</summary>
    public const string Format = "packed q8_K";

    public static int RowBytes(int inDim) => inDim / 256 * BlockBytes;

    /// <summary>Quantizes n rows of x (n x inDim, inDim a multiple of 256) into dst (n x <see cref="RowBytes"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Quantize(ReadOnlySpan<float> x, int n, int inDim, Span<byte> dst)
    {
        int rowBytes = RowBytes(inDim), nb = inDim / 256;
        if (inDim % 256 != 0 || x.Length < (long)n * inDim || dst.Length < (long)n * rowBytes)
            throw new ArgumentException($"PackedKActivations: {n} rows of {inDim} need {(long)n * inDim} floats and {(long)n * rowBytes} bytes (rows a multiple of 256)");
        Span<byte> block = stackalloc byte[BlockQ8_K.Size];
        fixed (byte* dst0 = dst)
        fixed (byte* q = block)
        {
            for (int row = 0; row < n; row++)
            {
                for (int b = 0; b < nb; b++)
                {
                    // One block at a time: Q8_K quantizes each super-block on its own.
                    ActivationQuantize.Q8_K(x.Slice(row * inDim + b * 256, 256), block);
                    byte* o = dst0 + (long)row * rowBytes + b * BlockBytes;
                    Buffer.MemoryCopy(q + 4, o, 256, 256);
                    Buffer.MemoryCopy(q + 260, o + SumsOffset, 32, 32);
                    *(float*)(o + ScaleOffset) = *(float*)q;
                    short* sums = (short*)(o + SumsOffset), sums32 = (short*)(o + Sums32Offset);
                    for (int j = 0; j < 8; j++) sums32[j] = (short)(sums[2 * j] + sums[2 * j + 1]); // |sum| <= 32 * 128
                    new Span<byte>(o + Sums32Offset + 16, BlockBytes - Sums32Offset - 16).Clear();
                }
            }
        }
    }
}

/// <summary>A lane-per-row K-quant matrix (Q4_K, Q6_K): super-blocks of 256 against these activation rows.</summary>
internal abstract class PackedQ8KLaneMatrix<K>(int inDim, int outDim) : PackedLaneMatrix<K>(inDim, outDim, 256) where K : ILaneTileKernel
{
    public sealed override string ActivationFormat => PackedKActivations.Format;
    public sealed override int ActivationRowBytes => PackedKActivations.RowBytes(InDim);
    public sealed override void QuantizeActivations(ReadOnlySpan<float> x, int n, Span<byte> dst) => PackedKActivations.Quantize(x, n, InDim, dst);
}

/// <summary>Pinned bytes whose first row starts on a 64-byte boundary, for the packed matrices' aligned loads.</summary>
internal sealed unsafe class AlignedRows
{
    private readonly byte[] _storage;
    private readonly int _offset;

    public AlignedRows(long bytes)
    {
        _storage = GC.AllocateArray<byte>(checked((int)(bytes + 64)), pinned: true);
        nint start = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_storage));
        _offset = (int)((64 - (start & 63)) & 63);
    }

    /// <summary>The first byte; valid while this object lives.</summary>
    public byte* Data => (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_storage)) + _offset;
}
