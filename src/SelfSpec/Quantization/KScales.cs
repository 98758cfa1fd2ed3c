// Packing of the 6-bit scales and mins of Q4_K / Q5_K: 8 (scale, min) pairs in 12 bytes.
// Bytes 0..3: low 6 bits = scale 0..3, top 2 bits = high bits of scale 4..7;
// bytes 4..7: low 6 bits = min 0..3, top 2 bits = high bits of min 4..7;
// bytes 8..11: low nibble = low 4 bits of scale 4..7, high nibble = low 4 bits of min 4..7.
using System.Runtime.CompilerServices;

namespace SelfSpec.Quantization;

internal static unsafe class KScales
{
    /// <summary>Scale and min of sub-block j (0..7) from the 12 packed bytes q.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Get(int j, byte* q, out int scale, out int min)
    {
        if (j < 4)
        {
            scale = q[j] & 63;
            min = q[j + 4] & 63;
        }
        else
        {
            scale = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
            min = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
        }
    }

    /// <summary>Packs 8 scales and 8 mins (each 0..63) into 12 bytes q.</summary>
    public static void Pack(ReadOnlySpan<byte> scales, ReadOnlySpan<byte> mins, byte* q)
    {
        for (int j = 0; j < 8; j++)
        {
            if (j < 4)
            {
                q[j] = scales[j];
                q[j + 4] = mins[j];
            }
            else
            {
                q[j + 4] = (byte)((scales[j] & 0xF) | ((mins[j] & 0xF) << 4));
                q[j - 4] |= (byte)((scales[j] >> 4) << 6);
                q[j] |= (byte)((mins[j] >> 4) << 6);
            }
        }
    }
}
