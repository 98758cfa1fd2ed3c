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
    /// <summary>
    /// The per-row work between a layer's dispatches, each fused with the quantization of the next product's input.
    /// A stage over several rows is split across the pool by rows (the other workers would idle through it); one
    /// row runs on the calling thread. Every row goes through the same per-row steps whichever worker takes it.
    /// </summary>
    private enum RowStage
    {
        /// <summary>RMSNorm of hidden with the attention norm, quantized for q, k, v.</summary>
        AttentionInput,
        /// <summary>Biases, Q/K norms, RoPE, the query's half rounding and the cache write.</summary>
        QueriesAndKeys,
        /// <summary>The attention output quantized for the output projection.</summary>
        OutputInput,
        /// <summary>The attention block's residual, then the feed-forward norm, quantized for gate and up.</summary>
        FeedForwardInput,
        /// <summary>act(gate) * up, quantized for the down projection.</summary>
        DownInput,
        /// <summary>The feed-forward block's residual.</summary>
        FeedForwardResidual,
        /// <summary>The final norm, quantized for the output head.</summary>
        HeadInput,
    }

    /// <summary>Rows from which a row stage is split across the pool: one row's stage is shorter than a dispatch.</summary>
    private const int ParallelRowsFrom = 2;

    /// <summary>Runs a row stage over the pass's n rows and laps the clock.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Rows(RowStage stage, int n, ref StageClock clock, ForwardStage lap)
    {
        if (n >= ParallelRowsFrom && _pool.ThreadCount > 1)
        {
            _rows.Set(stage, n);
            _pool.Run(_rows);
        }
        else RunRows(stage, 0, 0, n);
        clock.Lap(lap);
    }

    /// <summary>Rows [from, to) of a stage, on worker <paramref name="worker"/> (whose scratch it uses).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private unsafe void RunRows(RowStage stage, int worker, int from, int to)
    {
        int d = _c.EmbeddingDim;
        var hidden = new Span<float>(_hidden, _hiddenLength);
        if (stage == RowStage.HeadInput)
        {
            for (int i = from; i < to; i++) FinalNorm(hidden.Slice(i * d, d), _norm.AsSpan(i * d, d));
            QuantizeRows(_w.Output, _norm, from, to);
            return;
        }
        var lw = _w.Layers[_layer];
        var inputs = _inputs[_layer];
        switch (stage)
        {
            case RowStage.AttentionInput:
                for (int i = from; i < to; i++) RmsNorm.Apply(hidden.Slice(i * d, d), lw.AttentionNorm, _c.RmsEpsilon, _norm.AsSpan(i * d, d));
                if (inputs.QkvShared) QuantizeRows(lw.Query, _norm, from, to);
                break;
            case RowStage.QueriesAndKeys:
                for (int i = from; i < to; i++) PrepareQueryAndKeys(lw, i, worker);
                break;
            case RowStage.OutputInput:
                QuantizeRows(lw.Output, _attn, from, to);
                break;
            case RowStage.FeedForwardInput:
                for (int i = from; i < to; i++)
                {
                    AddResidual(hidden.Slice(i * d, d), _proj.AsSpan(i * d, d), lw.PostAttentionNorm);
                    RmsNorm.Apply(hidden.Slice(i * d, d), lw.FeedForwardNorm, _c.RmsEpsilon, _norm.AsSpan(i * d, d));
                }
                if (inputs.GateUpShared) QuantizeRows(lw.Gate, _norm, from, to);
                break;
            case RowStage.DownInput:
                int ff = _c.FeedForwardDim;
                bool gelu = _r.Activation == FeedForwardActivation.GeluTanh;
                for (int i = from; i < to; i++)
                {
                    var gate = _gate.AsSpan(i * ff, ff);
                    var up = _up.AsSpan(i * ff, ff);
                    var dst = _norm.AsSpan(i * ff, ff);
                    if (gelu) GeGlu.Apply(gate, up, dst);
                    else SwiGlu.Apply(gate, up, dst);
                }
                QuantizeRows(lw.Down, _norm, from, to);
                break;
            case RowStage.FeedForwardResidual:
                for (int i = from; i < to; i++) AddResidual(hidden.Slice(i * d, d), _proj.AsSpan(i * d, d), lw.PostFeedForwardNorm);
                break;
        }
    }

    /// <summary>
    /// For row i: Q/K/V biases, per-head Q and K norms, RoPE (on layers the recipe rotates), the query rounded as
    /// llama.cpp's half-precision K.Q product rounds it, and the row's keys and values written to its sequence's cache.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void PrepareQueryAndKeys(LayerWeights lw, int i, int worker)
    {
        int qDim = _c.QueryDim, kvDim = _c.KvDim, half = _c.RopeDim / 2;
        var q = _q.AsSpan(i * qDim, qDim);
        var k = _k.AsSpan(i * kvDim, kvDim);
        var v = _v.AsSpan(i * kvDim, kvDim);
        if (lw.QueryBias != null) TensorPrimitives.Add(q, lw.QueryBias, q);
        if (lw.KeyBias != null) TensorPrimitives.Add(k, lw.KeyBias, k);
        if (lw.ValueBias != null) TensorPrimitives.Add(v, lw.ValueBias, v);
        if (lw.QueryNorm != null) NormHeads(q, _c.HeadCount, lw.QueryNorm);
        if (lw.KeyNorm != null) NormHeads(k, _c.KvHeadCount, lw.KeyNorm);
        if (_r.UsesRope(_layer))
        {
            bool sliding = _r.UsesSlidingRope(_layer);
            var cos = (sliding ? _slidingCos : _cos).AsSpan(i * half, half);
            var sin = (sliding ? _slidingSin : _sin).AsSpan(i * half, half);
            Rope.Apply(q, _c.HeadCount, _c.HeadDim, _c.RopeDim, _c.RopeLayout, cos, sin);
            Rope.Apply(k, _c.KvHeadCount, _c.HeadDim, _c.RopeDim, _c.RopeLayout, cos, sin);
        }
        // llama.cpp keeps K and V in half precision and converts Q to half for the K.Q product.
        var scratch = _halves[worker];
        HalfRounding.Apply(q, q, scratch.Query);
        TensorPrimitives.ConvertToHalf(k, scratch.Keys);
        TensorPrimitives.ConvertToHalf(v, scratch.Values);
        _caches[i].Write(_layer, _positions[i], scratch.Keys, scratch.Values);
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

    /// <summary>One row's hidden += block output, the output first normalized by <paramref name="postNorm"/> when the block has one.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void AddResidual(Span<float> hidden, Span<float> output, float[]? postNorm)
    {
        if (postNorm != null) RmsNorm.Apply(output, postNorm, _c.RmsEpsilon, output);
        TensorPrimitives.Add(hidden, output, hidden);
    }

    /// <summary>Rows [from, to) of input (rows of w.InDim) quantized into _act for products with w and any that share its format.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void QuantizeRows(WeightMatrix w, float[] input, int from, int to)
    {
        int inDim = w.InDim, rowBytes = ActivationRowBytes(w), m = to - from;
        var src = input.AsSpan(from * inDim, m * inDim);
        var dst = _act.AsSpan(from * rowBytes, m * rowBytes);
        if (w.Packed != null) w.Packed.QuantizeActivations(src, m, dst);
        else MatMul.QuantizeActivations(w.Type, src, m, inDim, dst);
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
    /// out = input W^T for each product, input (n x inDim), in one dispatch (one barrier for q, k and v together).
    /// When the products share an activation format, <paramref name="quantized"/> says the row stage has already
    /// quantized the input into _act; products that differ each quantize their own copy and dispatch alone.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Multiply(float[] input, int n, bool quantized, ref StageClock clock, params ReadOnlySpan<(WeightMatrix W, float[] Out)> products)
    {
        if (!quantized)
        {
            foreach (var p in products)
            {
                QuantizeRows(p.W, input, 0, n);
                clock.Lap(ForwardStage.QuantizeActivations);
                Multiply(input, n, true, ref clock, p);
            }
            return;
        }
        _matmul.Set(n, _act);
        foreach (var (w, o) in products) _matmul.Add(w, o);
        _pool.Run(_matmul);
        clock.Lap(products[0].W.OutDim == _c.VocabSize ? ForwardStage.Head : ForwardStage.MatMul);
    }

    /// <summary>Whether products read one quantized copy of their input.</summary>
    private static bool SharesInput(params ReadOnlySpan<WeightMatrix> products)
    {
        foreach (var w in products)
            if (ActivationFormat(w) != ActivationFormat(products[0])) return false;
        return true;
    }

    /// <summary>How a product's input is quantized: packed rows for a packed matrix, else ggml's activation block type.</summary>
    private static string ActivationFormat(WeightMatrix w) => w.Packed?.ActivationFormat ?? VecDot.ActivationType(w.Type).ToString();

    private static int ActivationRowBytes(WeightMatrix w) => w.Packed?.ActivationRowBytes ?? MatMul.ActivationRowBytes(w.Type, w.InDim);
}
