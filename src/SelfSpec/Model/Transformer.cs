using System.Runtime.CompilerServices;
using SelfSpec.Kernels;
using SelfSpec.Model.Architectures;
using SelfSpec.Quantization;
using SelfSpec.Threading;

namespace SelfSpec.Model;

/// <summary>
/// The forward pass, in separate steps so decoders can stop a position partway and continue it later:
/// <see cref="Embed"/> token rows, <c>Forward</c> a batch of positions through a layer range (rows of one sequence, or
/// of several sequences each with its own cache), <see cref="FinalLogits"/> for chosen rows. Weights are immutable and
/// shared; the KV caches are passed in.
/// A layer is composed here from the shared blocks (Transformer.Blocks.cs) as the architecture's
/// <see cref="BlockRecipe"/> says; no architecture is named in the forward pass.
///
/// Batch invariance (see docs/architecture.md, invariants): every row goes through the same per-row kernels
/// whatever the batch size, the row's place in it and the thread count. Matrix products are split across threads
/// by output columns only; attention for a row runs over its keys in position order.
///
/// The per-token methods are compiled optimized at their first call (AggressiveOptimization): unoptimized
/// first calls slowed a process's first tokens, and the decoding loop times its first multi-row passes for the
/// price bound.
///
/// Not thread-safe: one decode at a time per instance (the scratch buffers are its own).
/// </summary>
internal sealed partial class Transformer
{
    private readonly ModelWeights _w;
    private readonly ModelConfig _c;
    private readonly BlockRecipe _r;
    private readonly WorkerPool _pool;
    private readonly float _attentionScale;
    private readonly float[]? _ropeFactors; // (ropeDim / 2) divisors of the rotary frequencies, or none

    // Scratch sized once for MaxBatch rows (no allocation per token).
    private readonly float[] _norm;        // (batch x max(embd, ff)) normalized input of a matmul
    private readonly byte[] _act;          // (batch x activation row bytes) quantized matmul input
    private readonly float[] _q;           // (batch x qDim)
    private readonly float[] _k;           // (batch x kvDim)
    private readonly float[] _v;           // (batch x kvDim)
    private readonly float[] _attn;        // (batch x qDim)
    private readonly float[] _gate;        // (batch x ff)
    private readonly float[] _up;          // (batch x ff)
    private readonly float[] _proj;        // (batch x embd) output of attn_output / ffn_down before the residual add
    private readonly float[] _cos, _sin;   // (batch x ropeDim/2)
    private readonly YarnRope? _yarn;      // the model's tables under YaRN scaling; null for plain, linear or LongRoPE
    private readonly float[] _slidingCos, _slidingSin; // (batch x ropeDim/2) for sliding layers with their own RoPE; else _cos, _sin
    private readonly HalfScratch[] _halves; // (threads) one row's query rounding and its keys and values as the cache stores them
    private readonly float[][] _scores;    // (threads) x (attention scratch) scores and queries of a tile
    private readonly KvCache[] _caches;    // (batch) the cache of each row's sequence in the current pass

    private readonly MatMulJob _matmul;
    private readonly AttentionJob _attention;
    private readonly RowJob _rows;
    private readonly LayerInputs[] _inputs; // (layers) whether each layer's fused products read one quantized input

    // The pass that row stages work on: set by ForwardRows / FinalLogits for the pass, the hidden rows pinned.
    private unsafe float* _hidden;
    private int _hiddenLength, _layer;
    private readonly int[] _positions; // (batch)

    private sealed record HalfScratch(Half[] Query, Half[] Keys, Half[] Values);
    private readonly record struct LayerInputs(bool QkvShared, bool GateUpShared);

    public int MaxBatch { get; }
    public ModelConfig Config => _c;
    public WorkerPool Pool => _pool;
    /// <summary>The weights (calibration reads the final norm and output head).</summary>
    public ModelWeights Weights => _w;

    public Transformer(ModelWeights weights, WorkerPool pool, int maxBatch, int maxContext)
    {
        _w = weights;
        _c = weights.Config;
        _r = _c.Recipe;
        _pool = pool;
        MaxBatch = maxBatch;
        _attentionScale = _r.AttentionScale ?? 1f / MathF.Sqrt(_c.HeadDim);
        _yarn = _c.YarnOriginalContext > 0 ? new YarnRope(_c.RopeDim, _c.RopeFreqBase, _c.RopeFreqScale, _c.YarnOriginalContext, _c.RopeAttentionFactor) : null;
        // LongRoPE picks its factors by the context the model runs with, as llama.cpp does.
        _ropeFactors = _r.LongRopeFromContext > 0 && maxContext > _r.LongRopeFromContext && weights.LongRopeFrequencyFactors != null
            ? weights.LongRopeFrequencyFactors : weights.RopeFrequencyFactors;
        int wide = Math.Max(_c.EmbeddingDim, _c.FeedForwardDim);
        _norm = new float[maxBatch * wide];
        int actBytes = ActivationRowBytes(_w.Output);
        foreach (var l in _w.Layers)
            foreach (var m in l.Matrices) actBytes = Math.Max(actBytes, ActivationRowBytes(m));
        _act = new byte[maxBatch * actBytes];
        _q = new float[maxBatch * _c.QueryDim];
        _k = new float[maxBatch * _c.KvDim];
        _v = new float[maxBatch * _c.KvDim];
        _attn = new float[maxBatch * _c.QueryDim];
        _gate = new float[maxBatch * _c.FeedForwardDim];
        _up = new float[maxBatch * _c.FeedForwardDim];
        _proj = new float[maxBatch * _c.EmbeddingDim];
        _cos = new float[maxBatch * _c.RopeDim / 2];
        _sin = new float[maxBatch * _c.RopeDim / 2];
        _slidingCos = _r.SlidingRope == null ? _cos : new float[_cos.Length];
        _slidingSin = _r.SlidingRope == null ? _sin : new float[_sin.Length];
        _halves = [.. Enumerable.Range(0, pool.ThreadCount).Select(_ => new HalfScratch(new Half[_c.QueryDim], new Half[_c.KvDim], new Half[_c.KvDim]))];
        _positions = new int[maxBatch];
        _inputs = [.. _w.Layers.Select(l => new LayerInputs(SharesInput(l.Query, l.Key, l.Value), SharesInput(l.Gate, l.Up)))];
        _scores = new float[pool.ThreadCount][];
        for (int i = 0; i < _scores.Length; i++) _scores[i] = new float[Attention.ScratchFloats(maxContext, _c.HeadDim)];
        _caches = new KvCache[maxBatch];
        _matmul = new MatMulJob();
        _attention = new AttentionJob(this);
        _rows = new RowJob(this);
    }

    /// <summary>Writes the embedding rows of <paramref name="tokens"/> into hidden (n x embd), scaled as the recipe says.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Embed(ReadOnlySpan<int> tokens, Span<float> hidden)
    {
        int d = _c.EmbeddingDim, rowBytes = _w.TokenEmbedding.RowBytes;
        foreach (int t in tokens)
            if ((uint)t >= (uint)_c.VocabSize) throw new InvalidRequestException($"token id {t} is outside the vocabulary (0..{_c.VocabSize - 1})");
        byte[]? rented = rowBytes > 32768 ? System.Buffers.ArrayPool<byte>.Shared.Rent(rowBytes) : null;
        Span<byte> bytes = rented != null ? rented : stackalloc byte[rowBytes];
        try
        {
            for (int i = 0; i < tokens.Length; i++)
            {
                var row = hidden.Slice(i * d, d);
                _w.TokenEmbedding.ReadRow(tokens[i], bytes);
                Dequantize.Row(_w.TokenEmbedding.Type, bytes[..rowBytes], row);
                if (_r.EmbeddingScale != 1f) System.Numerics.Tensors.TensorPrimitives.Multiply(row, _r.EmbeddingScale, row);
            }
        }
        finally
        {
            if (rented != null) System.Buffers.ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>
    /// Runs layers [fromLayer, toLayer) over n rows of one sequence in place: hidden (n x embd) row i is at
    /// positions[i]. Each row's keys and values at each layer are written to the cache before attention, so row i
    /// attends to every cached position up to and including positions[i] at that layer.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Forward(ReadOnlySpan<int> positions, Span<float> hidden, int fromLayer, int toLayer, KvCache cache)
    {
        if (positions.Length > MaxBatch) throw new ArgumentException($"batch of {positions.Length} exceeds {MaxBatch}");
        _caches.AsSpan(0, positions.Length).Fill(cache);
        ForwardRows(positions, hidden, fromLayer, toLayer);
    }

    /// <summary>
    /// Runs layers [fromLayer, toLayer) over n rows of several sequences in place (continuous batching,
    /// architecture.md 3): row i is at positions[i] of the sequence whose cache is caches[i]; its keys and values go
    /// to that cache and its attention reads only that cache. The matrix products run over all rows together, so
    /// each weight is read once for the pass; every row's result is the same bits whichever rows share its pass
    /// (architecture.md 2.1). Rows of one sequence must be in position order and should be adjacent (attention then
    /// shares widened keys among them).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Forward(ReadOnlySpan<int> positions, ReadOnlySpan<KvCache> caches, Span<float> hidden, int fromLayer, int toLayer)
    {
        if (positions.Length > MaxBatch) throw new ArgumentException($"batch of {positions.Length} exceeds {MaxBatch}");
        if (caches.Length != positions.Length) throw new ArgumentException($"{caches.Length} caches for {positions.Length} rows");
        for (int i = 0; i < caches.Length; i++)
        {
            if (caches[i] == null) throw new ArgumentNullException(nameof(caches), $"row {i} has no cache");
            _caches[i] = caches[i];
        }
        ForwardRows(positions, hidden, fromLayer, toLayer);
    }

    /// <summary>The pass over rows whose caches are in <see cref="_caches"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private unsafe void ForwardRows(ReadOnlySpan<int> positions, Span<float> hidden, int fromLayer, int toLayer)
    {
        int n = positions.Length;
        if (n == 0 || fromLayer >= toLayer) return;
        if ((uint)fromLayer > (uint)_c.LayerCount || toLayer > _c.LayerCount) throw new ArgumentOutOfRangeException(nameof(toLayer));
        int half = _c.RopeDim / 2;
        for (int i = 0; i < n; i++)
        {
            if ((uint)positions[i] >= (uint)_caches[i].Capacity)
                throw new InvalidRequestException($"position {positions[i]} is past the context size {_caches[i].Capacity}");
            if (_yarn != null) _yarn.Angles(positions[i], _ropeFactors, _cos.AsSpan(i * half, half), _sin.AsSpan(i * half, half));
            else Rope.Angles(positions[i], _c.RopeDim, _c.RopeFreqBase, _c.RopeFreqScale, _ropeFactors,
                _cos.AsSpan(i * half, half), _sin.AsSpan(i * half, half));
            if (_r.SlidingRope is var (slidingBase, slidingScale))
                Rope.Angles(positions[i], _c.RopeDim, slidingBase, slidingScale, _ropeFactors,
                    _slidingCos.AsSpan(i * half, half), _slidingSin.AsSpan(i * half, half));
            if (_c.RopeAttentionFactor != 1f)
            {
                // rope.scaling.attn_factor scales cos and sin, so every rotated value, on every rotating layer, as
                // ggml's rope does (cos(theta) * mscale, one rounding); unrotated dimensions keep their values.
                // YaRN's tables carry it in their magnitude already.
                if (_yarn == null)
                {
                    ScaleRow(_cos, i * half, half, _c.RopeAttentionFactor);
                    ScaleRow(_sin, i * half, half, _c.RopeAttentionFactor);
                }
                if (_r.SlidingRope != null)
                {
                    ScaleRow(_slidingCos, i * half, half, _c.RopeAttentionFactor);
                    ScaleRow(_slidingSin, i * half, half, _c.RopeAttentionFactor);
                }
            }
        }
        if (hidden.Length < n * _c.EmbeddingDim) throw new ArgumentException("hidden holds fewer rows than positions");
        positions.CopyTo(_positions);
        fixed (float* h = hidden)
        {
            _hidden = h;
            _hiddenLength = n * _c.EmbeddingDim;
            try
            {
                for (int layer = fromLayer; layer < toLayer; layer++)
                    Layer(layer, positions);
            }
            finally
            {
                // Caches are the sessions'; the transformer keeps no reference past the pass, nor to the pinned rows.
                _caches.AsSpan(0, n).Clear();
                _hidden = null;
            }
        }
    }

    private static void ScaleRow(float[] table, int start, int length, float factor) =>
        System.Numerics.Tensors.TensorPrimitives.Multiply(table.AsSpan(start, length), factor, table.AsSpan(start, length));

    /// <summary>One layer: the attention block, then the feed-forward block, each timed through one <see cref="StageClock"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Layer(int layer, ReadOnlySpan<int> positions)
    {
        var lw = _w.Layers[layer];
        var inputs = _inputs[layer];
        int n = positions.Length;
        _layer = layer;
        var clock = StageClock.Start();

        // Attention: norm -> q, k, v (one dispatch) -> biases, Q/K norms, rope, cache write -> attention -> output
        // projection -> (post-norm) residual, fused with the feed-forward norm.
        Rows(RowStage.AttentionInput, n, ref clock, ForwardStage.Norm);
        Multiply(_norm, n, inputs.QkvShared, ref clock, (lw.Query, _q), (lw.Key, _k), (lw.Value, _v));
        Rows(RowStage.QueriesAndKeys, n, ref clock, ForwardStage.RopeAndCache);
        _attention.Set(positions, layer);
        _pool.Run(_attention);
        clock.Lap(ForwardStage.Attention);
        Rows(RowStage.OutputInput, n, ref clock, ForwardStage.QuantizeActivations);
        Multiply(_attn, n, true, ref clock, (lw.Output, _proj));

        // Feed-forward: norm -> gate, up (one dispatch) -> act(gate) * up -> down projection -> (post-norm) residual.
        Rows(RowStage.FeedForwardInput, n, ref clock, ForwardStage.Residual);
        Multiply(_norm, n, inputs.GateUpShared, ref clock, (lw.Gate, _gate), (lw.Up, _up));
        Rows(RowStage.DownInput, n, ref clock, ForwardStage.Activation);
        Multiply(_norm, n, true, ref clock, (lw.Down, _proj));
        Rows(RowStage.FeedForwardResidual, n, ref clock, ForwardStage.Residual);
    }

    /// <summary>
    /// Final norm, output head and the recipe's logit steps (<see cref="FinishLogits"/>) for n rows: logits
    /// (n x vocab), written to the start of <paramref name="logits"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public unsafe void FinalLogits(ReadOnlySpan<float> hidden, int n, float[] logits)
    {
        if (n > MaxBatch) throw new ArgumentException($"batch of {n} exceeds {MaxBatch}");
        if (logits.Length < n * _c.VocabSize) throw new ArgumentException("logits buffer too small");
        if (hidden.Length < n * _c.EmbeddingDim) throw new ArgumentException("hidden holds fewer rows than asked for");
        var clock = StageClock.Start();
        fixed (float* h = hidden)
        {
            _hidden = h;
            _hiddenLength = n * _c.EmbeddingDim;
            try
            {
                Rows(RowStage.HeadInput, n, ref clock, ForwardStage.Norm);
            }
            finally
            {
                _hidden = null;
            }
        }
        Multiply(_norm, n, true, ref clock, (_w.Output, logits));
        FinishLogits(logits.AsSpan(0, n * _c.VocabSize));
    }
}
