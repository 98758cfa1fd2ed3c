// Dot kernels for the float weight types: F32 x F32, F16 x F16, BF16 x BF16.
// Parameter order: (weight row pointer, activation row pointer, n). One Vector256 FMA accumulator and a scalar
// tail, in a fixed order. These types are rare in the models this engine targets, so the code stays simple;
// F16 has no portable vector conversion in .NET 10, so it runs the scalar loop (same as the reference).
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace SelfSpec.Quantization;

internal static unsafe class VecDotFloat
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float F32(byte* pw, byte* pa, int n)
    {
        if (!Vector256.IsHardwareAccelerated)
        {
            return VecDotReference.Dot(GgmlType.F32, pw, pa, n);
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
            return VecDotReference.Dot(GgmlType.F16, pw, pa, n);
        }

        ushort* x = (ushort*)pw, y = (ushort*)pa;
        Vector256<float> acc = Vector256<float>.Zero;
        int i = 0;
        for (; i + 8 <= n; i += 8) acc = Vector256.FusedMultiplyAdd(HalfToSingle(Vector128.Load(x + i)), HalfToSingle(Vector128.Load(y + i)), acc);
        float s = FloatSum.Sum(acc);
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

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float BF16(byte* pw, byte* pa, int n)
    {
        if (!Vector256.IsHardwareAccelerated)
        {
            return VecDotReference.Dot(GgmlType.BF16, pw, pa, n);
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
