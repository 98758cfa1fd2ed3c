using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using SelfSpec.Kernels;
using SelfSpec.Model.Architectures;
using SelfSpec.Quantization;

namespace SelfSpec.Model;

/// <summary>
/// The shared blocks a layer and the head are composed of. Each works on whole rows with per-row kernels, so a
/// row's result never depends on the batch; none of them holds timing (the composition laps a <see cref="StageClock"/>).
/// </summary>
internal sealed partial class Transformer
{
    /// <summary>_norm (n x embd) = RMSNorm(hidden) * weight, row by row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void NormRows(ReadOnlySpan<float> hidden, float[] weight, int n)
    {
        int d = _c.EmbeddingDim;
        for (int i = 0; i < n; i++)
            RmsNorm.Apply(hidden.Slice(i * d, d), weight, _c.RmsEpsilon, _norm.AsSpan(i * d, d));
    }

    /// <summary>
    /// For each row: Q/K/V biases, per-head Q and K norms, RoPE (on layers the recipe rotates), the query rounded as
    /// llama.cpp's half-precision K.Q product rounds it, and the row's keys and values written to its sequence's cache.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void PrepareQueriesAndKeys(int layer, LayerWeights lw, ReadOnlySpan<int> positions)
    {
        int n = positions.Length, qDim = _c.QueryDim, kvDim = _c.KvDim, half = _c.RopeDim / 2;
        bool rope = _r.UsesRope(layer);
        float[] cosTable = _r.UsesSlidingRope(layer) ? _slidingCos : _cos, sinTable = _r.UsesSlidingRope(layer) ? _slidingSin : _sin;
        for (int i = 0; i < n; i++)
        {
            var q = _q.AsSpan(i * qDim, qDim);
            var k = _k.AsSpan(i * kvDim, kvDim);
            var v = _v.AsSpan(i * kvDim, kvDim);
            if (lw.QueryBias != null) TensorPrimitives.Add(q, lw.QueryBias, q);
            if (lw.KeyBias != null) TensorPrimitives.Add(k, lw.KeyBias, k);
            if (lw.ValueBias != null) TensorPrimitives.Add(v, lw.ValueBias, v);
            if (lw.QueryNorm != null) NormHeads(q, _c.HeadCount, lw.QueryNorm);
            if (lw.KeyNorm != null) NormHeads(k, _c.KvHeadCount, lw.KeyNorm);
            if (rope)
            {
                var cos = cosTable.AsSpan(i * half, half);
                var sin = sinTable.AsSpan(i * half, half);
                Rope.Apply(q, _c.HeadCount, _c.HeadDim, _c.RopeDim, _c.RopeLayout, cos, sin);
                Rope.Apply(k, _c.KvHeadCount, _c.HeadDim, _c.RopeDim, _c.RopeLayout, cos, sin);
            }
            // llama.cpp keeps K and V in half precision and converts Q to half for the K.Q product.
            HalfRounding.Apply(q, q, _half);
            TensorPrimitives.ConvertToHalf(k, _keyHalf);
            TensorPrimitives.ConvertToHalf(v, _valueHalf);
            _caches[i].Write(layer, positions[i], _keyHalf, _valueHalf);
        }
    }

    /// <summary>RMSNorm of each head of one row in place (row: heads x headDim), every head with the same weight (headDim).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void NormHeads(Span<float> row, int heads, float[] weight)
    {
        int hd = _c.HeadDim;
        for (int h = 0; h < heads; h++)
        {
            var head = row.Slice(h * hd, hd);
            RmsNorm.Apply(head, weight, _c.RmsEpsilon, head);
        }
    }

    /// <summary>_norm (n x ff) = act(_gate) * _up, the recipe's activation.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void GatedActivation(int n)
    {
        int ff = _c.FeedForwardDim;
        bool gelu = _r.Activation == FeedForwardActivation.GeluTanh;
        for (int i = 0; i < n; i++)
        {
            var gate = _gate.AsSpan(i * ff, ff);
            var up = _up.AsSpan(i * ff, ff);
            var dst = _norm.AsSpan(i * ff, ff);
            if (gelu) GeGlu.Apply(gate, up, dst);
            else SwiGlu.Apply(gate, up, dst);
        }
    }

    /// <summary>hidden (n x embd) += _proj, the block's output, first normalized by <paramref name="postNorm"/> when the block has one.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void AddResidual(Span<float> hidden, float[]? postNorm, int n)
    {
        int d = _c.EmbeddingDim;
        if (postNorm != null)
        {
            for (int i = 0; i < n; i++)
            {
                var row = _proj.AsSpan(i * d, d);
                RmsNorm.Apply(row, postNorm, _c.RmsEpsilon, row);
            }
        }
        TensorPrimitives.Add(hidden[..(n * d)], _proj.AsSpan(0, n * d), hidden[..(n * d)]);
    }

    /// <summary>
    /// The head's final norm of one row (embd), as <see cref="FinalLogits"/> applies it: exit heads call this and
    /// <see cref="FinishLogits"/> so that every head follows the architecture's recipe in one place.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void FinalNorm(ReadOnlySpan<float> hidden, Span<float> normalized) =>
        RmsNorm.Apply(hidden, _w.OutputNorm, _c.RmsEpsilon, normalized);

    /// <summary>The recipe's steps on logits after the head's product (the final soft-cap, when it has one), in place.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void FinishLogits(Span<float> logits)
    {
        float cap = _r.FinalLogitSoftCap;
        if (cap == 0f) return;
        TensorPrimitives.Multiply(logits, 1f / cap, logits);
        TensorPrimitives.Tanh(logits, logits);
        TensorPrimitives.Multiply(logits, cap, logits);
    }

    /// <summary>
    /// out = input W^T for each product, input (n x inDim). Products whose weights share an activation format
    /// read one quantized copy of the input in one dispatch (one barrier for q, k and v together).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Project(float[] input, int n, ref StageClock clock, params ReadOnlySpan<(WeightMatrix W, float[] Out)> products)
    {
        var format = ActivationFormat(products[0].W);
        bool shared = true;
        foreach (var p in products) shared &= ActivationFormat(p.W) == format;
        if (!shared)
        {
            foreach (var p in products) Project(input, n, ref clock, p);
            return;
        }
        var w0 = products[0].W;
        int inDim = w0.InDim;
        if (w0.Packed != null) w0.Packed.QuantizeActivations(input.AsSpan(0, n * inDim), n, _act);
        else MatMul.QuantizeActivations(w0.Type, input.AsSpan(0, n * inDim), n, inDim, _act);
        clock.Lap(ForwardStage.QuantizeActivations);
        _matmul.Set(n, _act);
        foreach (var (w, o) in products) _matmul.Add(w, o);
        _pool.Run(_matmul);
        clock.Lap(w0.OutDim == _c.VocabSize ? ForwardStage.Head : ForwardStage.MatMul);
    }

    /// <summary>How a product's input is quantized: packed rows for a packed matrix, else ggml's activation block type.</summary>
    private static string ActivationFormat(WeightMatrix w) => w.Packed?.ActivationFormat ?? VecDot.ActivationType(w.Type).ToString();

    private static int ActivationRowBytes(WeightMatrix w) => w.Packed?.ActivationRowBytes ?? MatMul.ActivationRowBytes(w.Type, w.InDim);
}
