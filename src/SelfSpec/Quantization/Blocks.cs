// Block layouts of the quantized types, byte-for-byte as ggml-common.h lays them out.
// Kernels address blocks through byte pointers and the offsets below (faster than struct copies);
// the structs document the layout and their sizes are tested against ggml's static asserts.
// Half fields hold IEEE fp16 (ggml_half); every block is packed (no padding).
using System.Runtime.InteropServices;

namespace SelfSpec.Quantization;

/// <summary>32 weights: x = d * (q - 8), q in 0..15; qs[j] holds element j (low nibble) and j + 16 (high).</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal unsafe struct BlockQ4_0
{
    public const int Size = 18;
    public Half D;
    public fixed byte Qs[16];
}

/// <summary>32 weights: x = d * q + m, q in 0..15; nibble order as Q4_0.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal unsafe struct BlockQ4_1
{
    public const int Size = 20;
    public Half D;
    public Half M;
    public fixed byte Qs[16];
}

/// <summary>32 values: x = d * q, q in -127..127.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal unsafe struct BlockQ8_0
{
    public const int Size = 34;
    public Half D;
    public fixed sbyte Qs[32];
}

/// <summary>32 activations: x = d * q; s = d * sum(q) (both fp16) lets Q4_1 dots add the min term per block.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal unsafe struct BlockQ8_1
{
    public const int Size = 36;
    public Half D;
    public Half S;
    public fixed sbyte Qs[32];
}

/// <summary>256 weights in 8 sub-blocks of 32: x = d * sc[j] * q - dmin * m[j]; 6-bit sc/m packed in 12 bytes.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal unsafe struct BlockQ4_K
{
    public const int Size = 144;
    public Half D;
    public Half DMin;
    public fixed byte Scales[12];
    public fixed byte Qs[128];
}

/// <summary>As Q4_K plus a fifth bit per weight in qh.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal unsafe struct BlockQ5_K
{
    public const int Size = 176;
    public Half D;
    public Half DMin;
    public fixed byte Scales[12];
    public fixed byte Qh[32];
    public fixed byte Qs[128];
}

/// <summary>256 weights in 16 groups of 16: x = d * scales[g] * (q - 32), q 6 bits (4 in ql, 2 in qh).</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal unsafe struct BlockQ6_K
{
    public const int Size = 210;
    public fixed byte Ql[128];
    public fixed byte Qh[64];
    public fixed sbyte Scales[16];
    public Half D;
}

/// <summary>256 activations: x = d * q (d is fp32); bsums[g] = sum of q over group g of 16 (for the min terms).</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal unsafe struct BlockQ8_K
{
    public const int Size = 292;
    public float D;
    public fixed sbyte Qs[256];
    public fixed short BSums[16];
}

/// <summary>32 weights: x = d * (q - 16), q 5 bits: 4 in qs (nibble order as Q4_0), the fifth of element j in bit j of qh.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal unsafe struct BlockQ5_0
{
    public const int Size = 22;
    public Half D;
    public fixed byte Qh[4];
    public fixed byte Qs[16];
}

/// <summary>32 weights: x = d * q + m, q 5 bits laid out as Q5_0.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal unsafe struct BlockQ5_1
{
    public const int Size = 24;
    public Half D;
    public Half M;
    public fixed byte Qh[4];
    public fixed byte Qs[16];
}

/// <summary>32 weights: x = d * kvalues[q], q a 4-bit index into a fixed non-linear table; nibble order as Q4_0.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal unsafe struct BlockIQ4_NL
{
    public const int Size = 18;
    public Half D;
    public fixed byte Qs[16];
}

/// <summary>
/// 256 weights in 8 sub-blocks of 32: x = d * (ls - 32) * kvalues[q]; the 6-bit ls of sub-block j has its low 4 bits
/// in nibble j % 2 of scalesL[j / 2] and its high 2 bits at bit 2j of scalesH; each sub-block's nibbles as IQ4_NL.
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal unsafe struct BlockIQ4_XS
{
    public const int Size = 136;
    public Half D;
    public ushort ScalesH;
    public fixed byte ScalesL[4];
    public fixed byte Qs[128];
}

/// <summary>
/// 256 weights in 16 groups of 16: x = d * (sc[g] - 32) * (q - 4), q 3 bits: 2 in qs, the third in hmask
/// (bit set: q >= 4); the 6-bit group scales are packed in 12 bytes.
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal unsafe struct BlockQ3_K
{
    public const int Size = 110;
    public fixed byte HMask[32];
    public fixed byte Qs[64];
    public fixed byte Scales[12];
    public Half D;
}

/// <summary>256 weights in 16 groups of 16: x = d * (sc[g] &amp; 15) * q - dmin * (sc[g] >> 4), q 2 bits.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal unsafe struct BlockQ2_K
{
    public const int Size = 84;
    public fixed byte Scales[16];
    public fixed byte Qs[64];
    public Half D;
    public Half DMin;
}
