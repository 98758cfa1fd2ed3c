using SelfSpec.Gguf;
using SelfSpec.Model;
using SelfSpec.Model.Architectures;
using SelfSpec.Quantization;

namespace SelfSpec.Tests.Model.Architectures;

/// <summary>
/// A plain float forward pass over a whole token sequence, written from the textbook definitions, straight from
/// the file's tensors (dequantized to float): the reference an architecture's recipe is checked against without
/// llama.cpp. Follows the recipe fields it knows: Q/K/V biases, Q/K norms, post-norms, activation, RoPE layout,
/// fused QKV and gate+up, rope-less layers, frequency factors (llama3, LongRoPE) and LongRoPE's attention factor, per-layer RoPE bases, embedding and attention scale, soft-caps, sliding windows, tied head.
/// </summary>
internal sealed class ReferenceForward(GgufFile file, ModelConfig c)
{
    private readonly BlockRecipe _r = c.Recipe;

    /// <summary>Logits (n x vocab) of every position of <paramref name="tokens"/>.</summary>
    public float[] Logits(int[] tokens)
    {
        int n = tokens.Length, d = c.EmbeddingDim, hd = c.HeadDim, v = c.VocabSize;
        var x = new float[n][];
        var emb = Matrix("token_embd.weight");
        for (int t = 0; t < n; t++) x[t] = [.. emb[tokens[t]].Select(e => e * _r.EmbeddingScale)];
        float[]? factors = _r.RopeFrequencyFactors && file.TryGetTensor("rope_freqs.weight", out _) ? Vector("rope_freqs.weight") : null;
        if (_r.LongRopeFromContext > 0)
            factors = Vector(c.ContextLength > _r.LongRopeFromContext ? "rope_factors_long.weight" : "rope_factors_short.weight");
        for (int l = 0; l < c.LayerCount; l++)
        {
            string p = $"blk.{l}.";
            var keys = new float[n][];
            var values = new float[n][];
            var queries = new float[n][];
            for (int t = 0; t < n; t++)
            {
                var h = Norm(x[t], Vector(p + "attn_norm.weight"));
                float[] q, k, val;
                if (file.TryGetTensor(p + "attn_qkv.weight", out _))
                {
                    var qkv = MatVec(p + "attn_qkv.weight", h);
                    (q, k, val) = (qkv[..c.QueryDim], qkv[c.QueryDim..(c.QueryDim + c.KvDim)], qkv[(c.QueryDim + c.KvDim)..]);
                }
                else
                {
                    q = MatVec(p + "attn_q.weight", h, p + "attn_q.bias");
                    k = MatVec(p + "attn_k.weight", h, p + "attn_k.bias");
                    val = MatVec(p + "attn_v.weight", h, p + "attn_v.bias");
                }
                if (_r.QueryKeyNorm)
                {
                    NormHeads(q, Vector(p + "attn_q_norm.weight"));
                    NormHeads(k, Vector(p + "attn_k_norm.weight"));
                }
                if (_r.UsesRope(l))
                {
                    var (ropeBase, ropeScale) = _r.UsesSlidingRope(l) ? _r.SlidingRope!.Value : (c.RopeFreqBase, c.RopeFreqScale);
                    bool yarn = c.YarnOriginalContext > 0 && !_r.UsesSlidingRope(l);
                    Rotate(q, t, factors, ropeBase, ropeScale, yarn);
                    Rotate(k, t, factors, ropeBase, ropeScale, yarn);
                }
                (queries[t], keys[t], values[t]) = (q, k, val);
            }
            float scale = _r.AttentionScale ?? 1f / MathF.Sqrt(hd);
            int group = c.HeadCount / c.KvHeadCount;
            for (int t = 0; t < n; t++)
            {
                var attn = new float[c.QueryDim];
                for (int head = 0; head < c.HeadCount; head++)
                {
                    int kvh = head / group;
                    var s = new double[t + 1];
                    int window = _r.Window(l);
                    for (int j = 0; j <= t; j++)
                    {
                        double dot = 0;
                        for (int i = 0; i < hd; i++) dot += queries[t][head * hd + i] * keys[j][kvh * hd + i];
                        s[j] = dot * scale;
                        if (_r.AttentionSoftCap != 0) s[j] = _r.AttentionSoftCap * Math.Tanh(s[j] / _r.AttentionSoftCap);
                        if (window > 0 && t - j >= window) s[j] = double.NegativeInfinity;
                    }
                    double max = s.Max(), sum = 0;
                    for (int j = 0; j <= t; j++) sum += s[j] = Math.Exp(s[j] - max);
                    for (int j = 0; j <= t; j++)
                        for (int i = 0; i < hd; i++) attn[head * hd + i] += (float)(s[j] / sum * values[j][kvh * hd + i]);
                }
                var o = MatVec(p + "attn_output.weight", attn);
                if (_r.PostAttentionNorm) o = Norm(o, Vector(p + "post_attention_norm.weight"));
                for (int i = 0; i < d; i++) x[t][i] += o[i];

                var h = Norm(x[t], Vector(p + "ffn_norm.weight"));
                float[] g, u;
                if (file.TryGetTensor(p + "ffn_gate.weight", out _))
                {
                    g = MatVec(p + "ffn_gate.weight", h);
                    u = MatVec(p + "ffn_up.weight", h);
                }
                else
                {
                    var gu = MatVec(p + "ffn_up.weight", h);
                    (g, u) = (gu[..c.FeedForwardDim], gu[c.FeedForwardDim..]);
                }
                for (int i = 0; i < g.Length; i++) g[i] = Activation(g[i]) * u[i];
                var f = MatVec(p + "ffn_down.weight", g);
                if (_r.PostFeedForwardNorm) f = Norm(f, Vector(p + "post_ffw_norm.weight"));
                for (int i = 0; i < d; i++) x[t][i] += f[i];
            }
        }
        var logits = new float[n * v];
        string output = !_r.TiedOutput && file.TryGetTensor("output.weight", out _) ? "output.weight" : "token_embd.weight";
        for (int t = 0; t < n; t++)
        {
            var z = MatVec(output, Norm(x[t], Vector("output_norm.weight")));
            float cap = _r.FinalLogitSoftCap;
            for (int i = 0; i < v; i++) logits[t * v + i] = cap == 0 ? z[i] : cap * MathF.Tanh(z[i] / cap);
        }
        return logits;
    }

    private float Activation(float x) => _r.Activation == FeedForwardActivation.Silu
        ? x / (1f + MathF.Exp(-x))
        : (float)(0.5 * x * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x))));

    /// <summary>
    /// Rotates every head of a row. YaRN (from its paper): pair i's angle is the interpolated angle (times the scale)
    /// blended with the original one by a ramp that is 1 (original) below the pair turning 32 times over the original
    /// context and 0 (interpolated) above the pair turning once, linear between the two whole pair indices around
    /// them; the rotated values grow by 1 + 0.1 ln(factor).
    /// </summary>
    private void Rotate(float[] row, int position, float[]? factors, float ropeBase, float ropeScale, bool yarn = false)
    {
        int hd = c.HeadDim, half = c.RopeDim / 2;
        double Turning(double turns) => c.RopeDim * Math.Log(c.YarnOriginalContext / (turns * 2 * Math.PI)) / (2 * Math.Log(ropeBase));
        double low = yarn ? Math.Max(0, Math.Floor(Turning(32))) : 0, high = yarn ? Math.Min(c.RopeDim - 1, Math.Ceiling(Turning(1))) : 0;
        double magnitude = c.RopeAttentionFactor * (yarn ? 1 + 0.1 * Math.Log(1 / ropeScale) : 1);
        for (int head = 0; head < row.Length / hd; head++)
            for (int i = 0; i < half; i++)
            {
                double original = position * Math.Pow(ropeBase, -2.0 * i / c.RopeDim) / (factors?[i] ?? 1f);
                double mix = yarn ? 1 - Math.Clamp((i - low) / Math.Max(0.001, high - low), 0, 1) : 0;
                double theta = original * ropeScale * (1 - mix) + original * mix;
                int a = head * hd + (c.RopeLayout == RopeLayout.Normal ? 2 * i : i);
                int b = head * hd + (c.RopeLayout == RopeLayout.Normal ? 2 * i + 1 : i + half);
                double x0 = row[a], x1 = row[b];
                double m = magnitude;
                row[a] = (float)(m * (x0 * Math.Cos(theta) - x1 * Math.Sin(theta)));
                row[b] = (float)(m * (x0 * Math.Sin(theta) + x1 * Math.Cos(theta)));
            }
    }

    private void NormHeads(float[] row, float[] weight)
    {
        int hd = c.HeadDim;
        for (int head = 0; head < row.Length / hd; head++)
            Norm(row.AsSpan(head * hd, hd).ToArray(), weight).CopyTo(row, head * hd);
    }

    private float[] Norm(float[] x, float[] weight)
    {
        double ss = x.Sum(e => (double)e * e);
        double s = 1 / Math.Sqrt(ss / x.Length + c.RmsEpsilon);
        return [.. x.Select((e, i) => (float)(e * s * weight[i]))];
    }

    private float[] MatVec(string name, float[] x, string? bias = null)
    {
        var m = Matrix(name);
        var y = new float[m.Length];
        for (int r = 0; r < m.Length; r++)
        {
            double acc = 0;
            for (int i = 0; i < x.Length; i++) acc += (double)m[r][i] * x[i];
            y[r] = (float)acc;
        }
        if (bias != null && file.TryGetTensor(bias, out _))
        {
            var b = Vector(bias);
            for (int r = 0; r < y.Length; r++) y[r] += b[r];
        }
        return y;
    }

    private readonly Dictionary<string, float[][]> _matrices = [];

    /// <summary>A 2-D tensor as rows (ne1 rows of ne0 values).</summary>
    private float[][] Matrix(string name)
    {
        if (_matrices.TryGetValue(name, out var cached)) return cached;
        var t = file.GetTensor(name);
        int cols = (int)t.Dimensions[0], rows = (int)(t.ElementCount / cols);
        var bytes = file.TensorBytes(t);
        int rowBytes = (int)GgmlTypeInfo.RowBytes(t.Type, cols);
        var m = new float[rows][];
        for (int r = 0; r < rows; r++)
        {
            m[r] = new float[cols];
            Dequantize.Row(t.Type, bytes.Slice(r * rowBytes, rowBytes), m[r]);
        }
        return _matrices[name] = m;
    }

    private float[] Vector(string name)
    {
        var t = file.GetTensor(name);
        var result = new float[t.ElementCount];
        Dequantize.Row(t.Type, file.TensorBytes(t), result);
        return result;
    }
}
