using System.Runtime.CompilerServices;

namespace SelfSpec.Model;

/// <summary>
/// YaRN RoPE scaling (rope.scaling.type yarn: Qwen3 and Qwen2.5 files converted for long contexts), computed as ggml's
/// rope computes it (architecture.md 3): each rotary pair's angle blends the interpolated angle (position x freqScale)
/// with the original one by a ramp over the pair index between two correction dimensions (the pairs that turn
/// beta_fast = 32 and beta_slow = 1 times over the original context; llama.cpp's defaults for these architectures),
/// and cos and sin are multiplied by a magnitude: llama.cpp's 0.1 ln(factor) + 1, cancelled by its reciprocal (each in
/// float), times rope.scaling.attn_factor, times the rope's own 1 + 0.1 ln(1 / freqScale).
/// </summary>
internal sealed class YarnRope
{
    private const float BetaFast = 32f, BetaSlow = 1f;
    private readonly int _ropeDim;
    private readonly float _freqBase, _freqScale, _low, _high, _magnitude;

    public YarnRope(int ropeDim, float freqBase, float freqScale, int originalContext, float attentionFactor)
    {
        _ropeDim = ropeDim;
        _freqBase = freqBase;
        _freqScale = freqScale;
        _low = MathF.Max(0f, MathF.Floor(CorrectionDim(ropeDim, originalContext, BetaFast, freqBase)));
        _high = MathF.Min(ropeDim - 1, MathF.Ceiling(CorrectionDim(ropeDim, originalContext, BetaSlow, freqBase)));
        float factor = 1f / freqScale;
        float m = factor <= 1f ? 1f : 0.1f * MathF.Log(factor) + 1f;
        m *= 1f / (1f + 0.1f * MathF.Log(factor));
        m *= attentionFactor;
        _magnitude = m * (1f + 0.1f * MathF.Log(1f / freqScale));
    }

    /// <summary>The pair index at which a rotation turns <paramref name="turns"/> times over the original context.</summary>
    private static float CorrectionDim(int ropeDim, int originalContext, float turns, float freqBase) =>
        ropeDim * MathF.Log(originalContext / (turns * 2 * MathF.PI)) / (2 * MathF.Log(freqBase));

    /// <summary>Fills cos/sin tables (ropeDim/2 entries each) for one position, each pair's angle divided by its entry of <paramref name="factors"/> (empty for none) first.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Angles(int position, ReadOnlySpan<float> factors, Span<float> cos, Span<float> sin)
    {
        float thetaScale = MathF.Pow(_freqBase, -2f / _ropeDim);
        float theta = position;
        for (int i = 0; i < _ropeDim / 2; i++)
        {
            float extrapolated = factors.IsEmpty ? theta : theta / factors[i];
            float interpolated = _freqScale * extrapolated;
            float mix = 1f - MathF.Min(1f, MathF.Max(0f, (i - _low) / MathF.Max(0.001f, _high - _low)));
            float t = interpolated * (1f - mix) + extrapolated * mix;
            cos[i] = MathF.Cos(t) * _magnitude;
            sin[i] = MathF.Sin(t) * _magnitude;
            theta *= thetaScale;
        }
    }
}
