using System.Runtime.CompilerServices;
using SelfSpec.Model;

namespace SelfSpec.Kernels;

/// <summary>
/// Rotary position embedding. Angles follow ggml's rope: theta_i = pos * freqScale * base^(-2i/ropeDim),
/// computed by repeated multiplication in float as ggml does, so rotations round the same way.
/// Normal layout rotates adjacent pairs (x[2i], x[2i+1]); NeoX rotates (x[i], x[i + ropeDim/2]).
/// </summary>
internal static class Rope
{
    /// <summary>Fills cos/sin tables (ropeDim/2 entries each) for one position.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Angles(int position, int ropeDim, float freqBase, float freqScale, Span<float> cos, Span<float> sin) =>
        Angles(position, ropeDim, freqBase, freqScale, default, cos, sin);

    /// <summary>
    /// Fills cos/sin tables (ropeDim/2 entries each) for one position, each pair's angle divided by its entry of
    /// <paramref name="factors"/> (llama3 rope scaling's rope_freqs; empty for none) before the linear scale, as ggml does.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Angles(int position, int ropeDim, float freqBase, float freqScale, ReadOnlySpan<float> factors, Span<float> cos, Span<float> sin)
    {
        if (!factors.IsEmpty && factors.Length != ropeDim / 2) throw new ArgumentException("one frequency factor per rotary pair");
        float thetaScale = MathF.Pow(freqBase, -2f / ropeDim);
        float theta = position;
        for (int i = 0; i < ropeDim / 2; i++)
        {
            float t = freqScale * (factors.IsEmpty ? theta : theta / factors[i]);
            cos[i] = MathF.Cos(t);
            sin[i] = MathF.Sin(t);
            theta *= thetaScale;
        }
    }

    /// <summary>Rotates every head of one row in place: row holds heads x headDim values.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Apply(Span<float> row, int heads, int headDim, int ropeDim, RopeLayout layout, ReadOnlySpan<float> cos, ReadOnlySpan<float> sin)
    {
        int half = ropeDim / 2;
        for (int h = 0; h < heads; h++)
        {
            var head = row.Slice(h * headDim, headDim);
            if (layout == RopeLayout.Normal)
            {
                for (int i = 0; i < half; i++)
                {
                    float x0 = head[2 * i], x1 = head[2 * i + 1];
                    head[2 * i] = x0 * cos[i] - x1 * sin[i];
                    head[2 * i + 1] = x0 * sin[i] + x1 * cos[i];
                }
            }
            else
            {
                for (int i = 0; i < half; i++)
                {
                    float x0 = head[i], x1 = head[i + half];
                    head[i] = x0 * cos[i] - x1 * sin[i];
                    head[i + half] = x0 * sin[i] + x1 * cos[i];
                }
            }
        }
    }
}
