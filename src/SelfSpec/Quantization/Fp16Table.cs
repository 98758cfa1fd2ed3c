// fp16 -> fp32 by table lookup: one load instead of the runtime's software conversion, which showed up as the
// largest cost of the Q4_1 / Q4_0 / Q8_0 dot kernels (2 to 4 fp16 scales per 32-element block).
// 65,536 entries x 4 bytes = 256 KB, pinned so kernels index it through a raw pointer; the few hundred
// distinct scales a matrix uses keep only a handful of its cache lines hot. Exact for every bit pattern.
namespace SelfSpec.Quantization;

internal static unsafe class Fp16Table
{
    private static readonly float[] Table = Build();
    private static readonly float* Base = (float*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref Table[0]);

    private static float[] Build()
    {
        float[] t = GC.AllocateUninitializedArray<float>(65536, pinned: true);
        for (int i = 0; i < 65536; i++) t[i] = (float)BitConverter.UInt16BitsToHalf((ushort)i);
        return t;
    }

    /// <summary>The fp16 value stored little-endian at p, as float.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public static float Load(byte* p) => Base[*(ushort*)p];

    /// <summary>The fp16 value with bits <paramref name="bits"/>, as float.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public static float Value(ushort bits) => Base[bits];
}
