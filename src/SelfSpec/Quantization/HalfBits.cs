using System.Runtime.CompilerServices;

namespace SelfSpec.Quantization;

/// <summary>
/// Float to half-precision bits, rounded to nearest (ties to even) exactly as <c>(Half)f</c>. The library
/// conversion handles every case on a general path that costs tens of cycles; activation quantization
/// converts two scales per 32 values, so the normal half range takes the short path below and everything
/// else (subnormals, overflow, NaN) falls back to the library.
/// </summary>
internal static class HalfBits
{
    private const uint SmallestNormal = 0x3880_0000; // 2^-14 as float bits
    private const uint FirstOverflow = 0x477F_F000;  // 65520: rounds to infinity

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort FromSingle(float f)
    {
        uint x = BitConverter.SingleToUInt32Bits(f);
        uint ax = x & 0x7FFF_FFFF;
        if (ax - SmallestNormal < FirstOverflow - SmallestNormal)
        {
            // Rebias the exponent (127 -> 15) and round the 13 dropped mantissa bits to nearest even; a carry
            // out of the mantissa correctly bumps the exponent.
            uint r = (ax - 0x3800_0000u + 0xFFFu + ((ax >> 13) & 1)) >> 13;
            return (ushort)(r | ((x >> 16) & 0x8000));
        }
        return BitConverter.HalfToUInt16Bits((Half)f);
    }

    /// <summary>Plain reference of <see cref="FromSingle"/>.</summary>
    public static ushort Reference(float f) => BitConverter.HalfToUInt16Bits((Half)f);
}
