// Dot kernels for the float weight types: F32 x F32, F16 x F16, BF16 x BF16.
// Parameter order: (weight row pointer, activation row pointer, n). One FMA accumulator per vector width
// (F16: 512 then 256 bits) and a scalar tail, in a fixed order. .NET 10 exposes no fp16 conversion instruction
// and its scalar Half conversion is software (several ns an element), so HalfToSingle widens halves with integer
// ops; exact for every bit pattern (tested).
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SelfSpec.Quantization;

internal static unsafe class VecDotFloat
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float F32(byte* pw, byte* pa, int n)
    {
        if (!Vector256.IsHardwareAccelerated)
        {
            return VecDotReference.F32(pw, pa, n);
        }

        float* x = (float*)pw, y = (float*)pa;
        Vector256<float> acc = Vector256<float>.Zero;
        int i = 0;
        for (; i + 8 <= n; i += 8) acc = Vector256.FusedMultiplyAdd(Vector256.Load(x + i), Vector256.Load(y + i), acc);
        float s = FloatSum.Sum(acc);
        for (; i < n; i++) s += x[i] * y[i];
        return s;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float F16(byte* pw, byte* pa, int n)
    {
        if (!Vector256.IsHardwareAccelerated)
        {
            return VecDotReference.F16(pw, pa, n);
        }

        ushort* x = (ushort*)pw, y = (ushort*)pa;
        int i = 0;
        float s = 0;
        if (Avx512F.IsSupported)
        {
            Vector512<float> acc512 = Vector512<float>.Zero;
            for (; i + 16 <= n; i += 16)
            {
                acc512 = Avx512F.FusedMultiplyAdd(HalfToSingle(Vector256.Load(x + i)), HalfToSingle(Vector256.Load(y + i)), acc512);
            }

            s = FloatSum.Sum(acc512);
        }

        Vector256<float> acc = Vector256<float>.Zero;
        for (; i + 8 <= n; i += 8) acc = Vector256.FusedMultiplyAdd(HalfToSingle(Vector128.Load(x + i)), HalfToSingle(Vector128.Load(y + i)), acc);
        s += FloatSum.Sum(acc);
        for (; i < n; i++) s += Fp16Table.Load((byte*)(x + i)) * Fp16Table.Load((byte*)(y + i));
        return s;
    }

    /// <summary>
    /// Eight fp16 bit patterns to float: exponent and mantissa shifted into place and rescaled by 2^112
    /// (exact for normals and subnormals), infinities and NaNs given the all-ones exponent, then the sign.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> HalfToSingle(Vector128<ushort> h)
    {
        Vector256<uint> u = Vector256.WidenLower(Vector256.Create(h, Vector128<ushort>.Zero));
        Vector256<uint> em = u & Vector256.Create(0x7fffu);
        Vector256<uint> shifted = Vector256.ShiftLeft(em, 13);
        Vector256<float> finite = shifted.AsSingle() * Vector256.Create(0x77800000u).AsSingle() /* 2^112 */;
        Vector256<float> special = (shifted | Vector256.Create(0x7f800000u)).AsSingle();
        Vector256<float> mag = Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(em, Vector256.Create(0x7c00u)).AsSingle(), special, finite);
        return mag | Vector256.ShiftLeft(u & Vector256.Create(0x8000u), 16).AsSingle();
    }

    /// <summary>Sixteen fp16 bit patterns to float, as <see cref="HalfToSingle(Vector128{ushort})"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> HalfToSingle(Vector256<ushort> h)
    {
        Vector512<uint> u = Avx512F.ConvertToVector512UInt32(h);
        Vector512<uint> em = u & Vector512.Create(0x7fffu);
        Vector512<uint> shifted = Vector512.ShiftLeft(em, 13);
        Vector512<float> finite = shifted.AsSingle() * Vector512.Create(0x77800000u).AsSingle() /* 2^112 */;
        Vector512<float> special = (shifted | Vector512.Create(0x7f800000u)).AsSingle();
        Vector512<float> mag = Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(em, Vector512.Create(0x7c00u)).AsSingle(), special, finite);
        return mag | Vector512.ShiftLeft(u & Vector512.Create(0x8000u), 16).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float BF16(byte* pw, byte* pa, int n)
    {
        if (!Vector256.IsHardwareAccelerated)
        {
            return VecDotReference.BF16(pw, pa, n);
        }

        ushort* x = (ushort*)pw, y = (ushort*)pa;
        Vector256<float> acc = Vector256<float>.Zero;
        int i = 0;
        for (; i + 8 <= n; i += 8)
        {
            // bf16 is the top half of an fp32: widen and shift into place.
            Vector256<float> vx = Vector256.ShiftLeft(Vector256.WidenLower(Vector256.Create(Vector128.Load(x + i), Vector128<ushort>.Zero)), 16).AsSingle();
            Vector256<float> vy = Vector256.ShiftLeft(Vector256.WidenLower(Vector256.Create(Vector128.Load(y + i), Vector128<ushort>.Zero)), 16).AsSingle();
            acc = Vector256.FusedMultiplyAdd(vx, vy, acc);
        }

        float s = FloatSum.Sum(acc);
        for (; i < n; i++) s += BitConverter.Int32BitsToSingle(x[i] << 16) * BitConverter.Int32BitsToSingle(y[i] << 16);
        return s;
    }
}
