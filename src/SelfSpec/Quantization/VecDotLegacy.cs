// SIMD dot kernels for the 32-element legacy quants: Q4_0 x Q8_0, Q4_1 x Q8_1, Q8_0 x Q8_0.
// Parameter order: (weight row bytes, activation row bytes, n); lengths checked by VecDot.Check.
// Integer products use vpmaddubsw (u8 x s8 -> s16 pairs) then vpmaddwd with ones (-> s32): .NET 10 exposes no
// AVX512-VNNI class and this CPU has no VEX AVX-VNNI, so this is the widest int8 dot the runtime offers.
// Per block the 8 int32 partials are converted to float and fused-multiply-added with the block scale into a
// float vector accumulator, reduced once at the end: a fixed sequence, so the result depends only on the rows.
// Q4_1 on AVX-512 handles two blocks per 512-bit vector; an odd last block goes through the 256-bit step
// into its own accumulator (reduced in a fixed order).
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SelfSpec.Quantization;

internal static unsafe class VecDotLegacy
{
    public static float Q4_0(byte* pw0, byte* pa0, int n)
    {
        if (!Avx2.IsSupported || !Fma.IsSupported)
        {
            return VecDotReference.Dot(GgmlType.Q4_0, pw0, pa0, n);
        }

        {
            byte* pw = pw0, pa = pa0;
            int nb = n / 32;
            Vector256<float> acc = Vector256<float>.Zero;
            Vector256<short> ones = Vector256.Create((short)1);
            Vector256<byte> eight = Vector256.Create((byte)8);
            for (int i = 0; i < nb; i++, pw += BlockQ4_0.Size, pa += BlockQ8_0.Size)
            {
                Vector256<byte> q = Nibbles256(pw + 2);
                Vector256<sbyte> y = Vector256.Load((sbyte*)(pa + 2));
                // (q - 8) . y = q . y - 8 . y; both products fit maddubs without saturation.
                Vector256<int> p = Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(q, y), ones)
                                 - Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(eight, y), ones);
                Vector256<float> d = Vector256.Create(Dequantize.F16(pw) * Dequantize.F16(pa));
                acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(p), d, acc);
            }

            return Vector256.Sum(acc);
        }
    }

    public static float Q8_0(byte* pw0, byte* pa0, int n)
    {
        if (!Avx2.IsSupported || !Fma.IsSupported)
        {
            return VecDotReference.Dot(GgmlType.Q8_0, pw0, pa0, n);
        }

        {
            byte* pw = pw0, pa = pa0;
            int nb = n / 32;
            Vector256<float> acc = Vector256<float>.Zero;
            Vector256<short> ones = Vector256.Create((short)1);
            for (int i = 0; i < nb; i++, pw += BlockQ8_0.Size, pa += BlockQ8_0.Size)
            {
                Vector256<sbyte> x = Vector256.Load((sbyte*)(pw + 2));
                Vector256<sbyte> y = Vector256.Load((sbyte*)(pa + 2));
                // x . y = |x| . (y * sign(x)): maddubs wants one unsigned operand.
                Vector256<int> p = Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(Avx2.Abs(x), Avx2.Sign(y, x)), ones);
                Vector256<float> d = Vector256.Create(Dequantize.F16(pw) * Dequantize.F16(pa));
                acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(p), d, acc);
            }

            return Vector256.Sum(acc);
        }
    }

    public static float Q4_1(byte* pw0, byte* pa0, int n)
    {
        if (!Avx2.IsSupported || !Fma.IsSupported)
        {
            return VecDotReference.Dot(GgmlType.Q4_1, pw0, pa0, n);
        }

        {
            byte* pw = pw0, pa = pa0;
            int nb = n / 32, i = 0;
            float summs = 0;
            Vector256<float> acc256 = Vector256<float>.Zero;
            float total512 = 0;
            if (Avx512BW.IsSupported)
            {
                Vector512<float> acc = Vector512<float>.Zero;
                Vector512<short> ones = Vector512.Create((short)1);
                for (; i + 1 < nb; i += 2, pw += 2 * BlockQ4_1.Size, pa += 2 * BlockQ8_1.Size)
                {
                    Vector512<byte> q = Vector512.Create(Nibbles256(pw + 4), Nibbles256(pw + BlockQ4_1.Size + 4));
                    Vector512<sbyte> y = Vector512.Create(Vector256.Load((sbyte*)(pa + 4)), Vector256.Load((sbyte*)(pa + BlockQ8_1.Size + 4)));
                    Vector512<int> p = Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(q, y), ones);
                    Vector512<float> d = Vector512.Create(
                        Vector256.Create(Dequantize.F16(pw) * Dequantize.F16(pa)),
                        Vector256.Create(Dequantize.F16(pw + BlockQ4_1.Size) * Dequantize.F16(pa + BlockQ8_1.Size)));
                    acc = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(p), d, acc);
                    summs += Dequantize.F16(pw + 2) * Dequantize.F16(pa + 2) + Dequantize.F16(pw + BlockQ4_1.Size + 2) * Dequantize.F16(pa + BlockQ8_1.Size + 2);
                }

                total512 = Vector512.Sum(acc);
            }

            Vector256<short> ones256 = Vector256.Create((short)1);
            for (; i < nb; i++, pw += BlockQ4_1.Size, pa += BlockQ8_1.Size)
            {
                Vector256<byte> q = Nibbles256(pw + 4);
                Vector256<sbyte> y = Vector256.Load((sbyte*)(pa + 4));
                Vector256<int> p = Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(q, y), ones256);
                Vector256<float> d = Vector256.Create(Dequantize.F16(pw) * Dequantize.F16(pa));
                acc256 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(p), d, acc256);
                summs += Dequantize.F16(pw + 2) * Dequantize.F16(pa + 2);
            }

            return total512 + Vector256.Sum(acc256) + summs;
        }
    }

    /// <summary>16 packed bytes -> 32 nibbles in element order: low nibbles (elements 0..15), then high (16..31).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> Nibbles256(byte* qs)
    {
        Vector128<byte> q = Vector128.Load(qs);
        Vector128<byte> m = Vector128.Create((byte)0x0F);
        return Vector256.Create(q & m, Vector128.ShiftRightLogical(q, 4) & m);
    }
}
