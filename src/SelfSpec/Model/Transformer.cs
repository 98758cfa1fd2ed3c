using System.Runtime.CompilerServices;
using SelfSpec.Kernels;
using SelfSpec.Quantization;
using SelfSpec.Threading;

namespace SelfSpec.Model;

/// <summary>
/// The forward pass, in separate steps so decoders can stop a position partway and continue it later:
/// <see cref="Embed"/> token rows, <see cref="Forward"/> a batch of positions through a layer range,
/// <see cref="FinalLogits"/> for chosen rows. Weights are immutable and shared; the KV cache is passed in.
///
/// Batch invariance (DESIGN 2.1): every row goes through the same per-row kernels whatever the batch size,
/// the row's place in it and the thread count. Matrix products are split across threads by output columns
/// only; attention for a row runs over its keys in position order.
///
/// The per-token methods are compiled optimized at their first call (AggressiveOptimization): unoptimized
/// first calls slowed a process's first tokens, and the decoding loop times its first multi-row passes for the
/// price bound.
///
/// Not thread-safe: one decode at a time per instance (the scratch buffers are its own).
/// </summary>
internal sealed class Transformer
{
    private readonly ModelWeights _w;
    private readonly ModelConfig _c;
    private readonly WorkerPool _pool;
    private readonly float _attentionScale;

    // Scratch sized once for MaxBatch rows (DESIGN 2.4: no allocation per token).
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
    private readonly Half[] _half;         // (qDim) scratch of the query's half-precision rounding
    private readonly Half[] _keyHalf, _valueHalf; // (kvDim) one position's keys and values as the cache stores them
    private readonly float[][] _scores;    // (threads) x (attention scratch) scores and queries of a tile

    private readonly MatMulJob _matmul;
    private readonly AttentionJob _attention;

    public int MaxBatch { get; }
    public ModelConfig Config => _c;
    public WorkerPool Pool => _pool;
    /// <summary>The weights (calibration reads the final norm and output head).</summary>
    public ModelWeights Weights => _w;

    public Transformer(ModelWeights weights, WorkerPool pool, int maxBatch, int maxContext)
    {
        _w = weights;
        _c = weights.Config;
        _pool = pool;
        MaxBatch = maxBatch;
        _attentionScale = 1f / MathF.Sqrt(_c.HeadDim);
        int wide = Math.Max(_c.EmbeddingDim, _c.FeedForwardDim);
        _norm = new float[maxBatch * wide];
        int actBytes = 0;
        foreach (var m in AllMatrices()) actBytes = Math.Max(actBytes, ActivationRowBytes(m));
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
        _half = new Half[_c.QueryDim];
        _keyHalf = new Half[_c.KvDim];
        _valueHalf = new Half[_c.KvDim];
        _scores = new float[pool.ThreadCount][];
        for (int i = 0; i < _scores.Length; i++) _scores[i] = new float[Attention.ScratchFloats(maxContext, _c.HeadDim)];
        _matmul = new MatMulJob();
        _attention = new AttentionJob(this);
    }

    private IEnumerable<WeightMatrix> AllMatrices()
    {
        yield return _w.Output;
        foreach (var l in _w.Layers)
        {
            yield return l.Query; yield return l.Key; yield return l.Value; yield return l.Output;
            yield return l.Gate; yield return l.Up; yield return l.Down;
        }
    }

    /// <summary>Writes the embedding rows of <paramref name="tokens"/> into hidden (n x embd).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Embed(ReadOnlySpan<int> tokens, Span<float> hidden)
    {
        int d = _c.EmbeddingDim;
        for (int i = 0; i < tokens.Length; i++)
        {
            int t = tokens[i];
            if ((uint)t >= (uint)_c.VocabSize) throw new InvalidRequestException($"token id {t} is outside the vocabulary (0..{_c.VocabSize - 1})");
            Dequantize.Row(_w.TokenEmbedding.Type, _w.TokenEmbedding.Row(t), hidden.Slice(i * d, d));
        }
    }

    /// <summary>
    /// Runs layers [fromLayer, toLayer) over n rows in place: hidden (n x embd) row i is at positions[i].
    /// Each row's keys and values at each layer are written to the cache before attention, so row i
    /// attends to every cached position up to and including positions[i] at that layer.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Forward(ReadOnlySpan<int> positions, Span<float> hidden, int fromLayer, int toLayer, KvCache cache)
    {
        int n = positions.Length;
        if (n == 0 || fromLayer >= toLayer) return;
        if (n > MaxBatch) throw new ArgumentException($"batch of {n} exceeds {MaxBatch}");
        if ((uint)fromLayer > (uint)_c.LayerCount || toLayer > _c.LayerCount) throw new ArgumentOutOfRangeException(nameof(toLayer));
        int half = _c.RopeDim / 2;
        for (int i = 0; i < n; i++)
        {
            if ((uint)positions[i] >= (uint)cache.Capacity)
                throw new InvalidRequestException($"position {positions[i]} is past the context size {cache.Capacity}");
            Rope.Angles(positions[i], _c.RopeDim, _c.RopeFreqBase, _c.RopeFreqScale, _cos.AsSpan(i * half, half), _sin.AsSpan(i * half, half));
        }
        for (int layer = fromLayer; layer < toLayer; layer++)
            Layer(layer, positions, hidden, cache);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Layer(int layer, ReadOnlySpan<int> positions, Span<float> hidden, KvCache cache)
    {
        var lw = _w.Layers[layer];
        int n = positions.Length, d = _c.EmbeddingDim, qDim = _c.QueryDim, kvDim = _c.KvDim, ff = _c.FeedForwardDim;

        // Attention block: norm -> q, k, v (one dispatch) -> rope, cache write -> attention -> output projection.
        long t = ForwardProfile.Start();
        NormRows(hidden, lw.AttentionNorm, n);
        t = ForwardProfile.Lap(ForwardStage.Norm, t);
        Project(_norm, n, (lw.Query, _q), (lw.Key, _k), (lw.Value, _v));
        t = ForwardProfile.Start();
        int half = _c.RopeDim / 2;
        for (int i = 0; i < n; i++)
        {
            var q = _q.AsSpan(i * qDim, qDim);
            var k = _k.AsSpan(i * kvDim, kvDim);
            var v = _v.AsSpan(i * kvDim, kvDim);
            if (lw.QueryBias != null) System.Numerics.Tensors.TensorPrimitives.Add(q, lw.QueryBias, q);
            if (lw.KeyBias != null) System.Numerics.Tensors.TensorPrimitives.Add(k, lw.KeyBias, k);
            if (lw.ValueBias != null) System.Numerics.Tensors.TensorPrimitives.Add(v, lw.ValueBias, v);
            var cos = _cos.AsSpan(i * half, half);
            var sin = _sin.AsSpan(i * half, half);
            Rope.Apply(q, _c.HeadCount, _c.HeadDim, _c.RopeDim, _c.RopeLayout, cos, sin);
            Rope.Apply(k, _c.KvHeadCount, _c.HeadDim, _c.RopeDim, _c.RopeLayout, cos, sin);
            // llama.cpp keeps K and V in half precision and converts Q to half for the K.Q product.
            HalfRounding.Apply(q, q, _half);
            System.Numerics.Tensors.TensorPrimitives.ConvertToHalf(k, _keyHalf);
            System.Numerics.Tensors.TensorPrimitives.ConvertToHalf(v, _valueHalf);
            cache.Write(layer, positions[i], _keyHalf, _valueHalf);
        }
        t = ForwardProfile.Lap(ForwardStage.RopeAndCache, t);
        _attention.Set(positions, cache, layer);
        _pool.Run(_attention);
        ForwardProfile.Lap(ForwardStage.Attention, t);
        Project(_attn, n, (lw.Output, _proj));
        t = ForwardProfile.Start();
        System.Numerics.Tensors.TensorPrimitives.Add(hidden[..(n * d)], _proj.AsSpan(0, n * d), hidden[..(n * d)]);
        t = ForwardProfile.Lap(ForwardStage.Residual, t);

        // Feed-forward block: norm -> gate, up (one dispatch) -> SwiGLU -> down projection.
        NormRows(hidden, lw.FeedForwardNorm, n);
        ForwardProfile.Lap(ForwardStage.Norm, t);
        Project(_norm, n, (lw.Gate, _gate), (lw.Up, _up));
        t = ForwardProfile.Start();
        for (int i = 0; i < n; i++)
            SwiGlu.Apply(_gate.AsSpan(i * ff, ff), _up.AsSpan(i * ff, ff), _norm.AsSpan(i * ff, ff));
        ForwardProfile.Lap(ForwardStage.SwiGlu, t);
        Project(_norm, n, (lw.Down, _proj));
        t = ForwardProfile.Start();
        System.Numerics.Tensors.TensorPrimitives.Add(hidden[..(n * d)], _proj.AsSpan(0, n * d), hidden[..(n * d)]);
        ForwardProfile.Lap(ForwardStage.Residual, t);
    }

    /// <summary>Final norm and output head for n rows: logits (n x vocab), written to the start of <paramref name="logits"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void FinalLogits(ReadOnlySpan<float> hidden, int n, float[] logits)
    {
        if (n > MaxBatch) throw new ArgumentException($"batch of {n} exceeds {MaxBatch}");
        if (logits.Length < n * _c.VocabSize) throw new ArgumentException("logits buffer too small");
        long t = ForwardProfile.Start();
        NormRows(hidden, _w.OutputNorm, n);
        ForwardProfile.Lap(ForwardStage.Norm, t);
        Project(_norm, n, (_w.Output, logits));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void NormRows(ReadOnlySpan<float> hidden, float[] weight, int n)
    {
        int d = _c.EmbeddingDim;
        for (int i = 0; i < n; i++)
            RmsNorm.Apply(hidden.Slice(i * d, d), weight, _c.RmsEpsilon, _norm.AsSpan(i * d, d));
    }

    /// <summary>
    /// out = input W^T for each product, input (n x inDim). Products whose weights share an activation format
    /// read one quantized copy of the input in one dispatch (one barrier for q, k and v together).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Project(float[] input, int n, params ReadOnlySpan<(WeightMatrix W, float[] Out)> products)
    {
        var format = ActivationFormat(products[0].W);
        bool shared = true;
        foreach (var p in products) shared &= ActivationFormat(p.W) == format;
        if (!shared)
        {
            foreach (var p in products) Project(input, n, p);
            return;
        }
        var w0 = products[0].W;
        int inDim = w0.InDim;
        long t = ForwardProfile.Start();
        if (w0.Packed != null) w0.Packed.QuantizeActivations(input.AsSpan(0, n * inDim), n, _act);
        else MatMul.QuantizeActivations(w0.Type, input.AsSpan(0, n * inDim), n, inDim, _act);
        t = ForwardProfile.Lap(ForwardStage.QuantizeActivations, t);
        _matmul.Set(n, _act);
        foreach (var (w, o) in products) _matmul.Add(w, o);
        _pool.Run(_matmul);
        ForwardProfile.Lap(w0.OutDim == _c.VocabSize ? ForwardStage.Head : ForwardStage.MatMul, t);
    }

    /// <summary>How a product's input is quantized: packed rows for a packed matrix, else ggml's activation block type.</summary>
    private static string ActivationFormat(WeightMatrix w) => w.Packed?.ActivationFormat ?? VecDot.ActivationType(w.Type).ToString();

    private static int ActivationRowBytes(WeightMatrix w) => w.Packed?.ActivationRowBytes ?? MatMul.ActivationRowBytes(w.Type, w.InDim);

    /// <summary>Up to three matrix products over one quantized input, each split by output columns.</summary>
    private sealed class MatMulJob : IParallelWork
    {
        private const int ColumnGranularity = 16;
        private readonly WeightMatrix[] _w = new WeightMatrix[3];
        private readonly float[][] _out = new float[3][];
        private int _count, _batch;
        private byte[] _act = [];

        public void Set(int batch, byte[] act)
        {
            _batch = batch;
            _act = act;
            _count = 0;
        }

        public void Add(WeightMatrix w, float[] output)
        {
            _w[_count] = w;
            _out[_count] = output;
            _count++;
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Execute(int worker, int workers)
        {
            for (int i = 0; i < _count; i++)
            {
                var w = _w[i];
                var (start, end) = WorkerPool.Split(w.OutDim, worker, workers, ColumnGranularity);
                if (start >= end) continue;
                int actBytes = ActivationRowBytes(w);
                if (w.Packed != null)
                {
                    w.Packed.Rows(_act.AsSpan(0, _batch * actBytes), _batch, _out[i].AsSpan(0, _batch * w.OutDim), start, end);
                    continue;
                }
                MatMul.Rows(w.Type, w.Bytes, w.InDim, _act.AsSpan(0, _batch * actBytes), _batch,
                    _out[i].AsSpan(0, _batch * w.OutDim), w.OutDim, start, end);
            }
        }
    }

    /// <summary>
    /// Attention for every (row, query head) pair of the batch, ordered kv head first, then row, then query head,
    /// and split across workers in contiguous ranges; within a range, the queries of one kv head (its query
    /// heads in every row) run as one call so they share the widened keys and values.
    /// </summary>
    private sealed class AttentionJob(Transformer t) : IParallelWork
    {
        private readonly int[] _positions = new int[t.MaxBatch];
        private readonly int[][] _offsets = NewPerWorker(t), _counts = NewPerWorker(t);
        private int _n, _layer;
        private KvCache? _cache;

        private static int[][] NewPerWorker(Transformer t) =>
            Enumerable.Range(0, t._pool.ThreadCount).Select(_ => new int[t.MaxBatch * t._c.HeadCount]).ToArray();

        public void Set(ReadOnlySpan<int> positions, KvCache cache, int layer)
        {
            positions.CopyTo(_positions);
            _n = positions.Length;
            _cache = cache;
            _layer = layer;
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Execute(int worker, int workers)
        {
            var c = t._c;
            int headDim = c.HeadDim, group = c.HeadCount / c.KvHeadCount, perKvHead = _n * group;
            var (start, end) = WorkerPool.Split(_n * c.HeadCount, worker, workers);
            int[] offsets = _offsets[worker], counts = _counts[worker];
            for (int job = start; job < end;)
            {
                int kvHead = job / perKvHead, runEnd = Math.Min(end, (kvHead + 1) * perKvHead), m = 0;
                for (; job < runEnd; job++, m++)
                {
                    int inKvHead = job - kvHead * perKvHead, row = inKvHead / group, h = kvHead * group + inKvHead % group;
                    offsets[m] = row * c.QueryDim + h * headDim;
                    counts[m] = _positions[row] + 1;
                }
                Attention.Queries(t._q.AsSpan(0, _n * c.QueryDim), offsets.AsSpan(0, m), counts.AsSpan(0, m), headDim,
                    _cache!.HeadKeys(_layer, kvHead), _cache.HeadValues(_layer, kvHead), t._attentionScale, t._scores[worker], t._attn.AsSpan(0, _n * c.QueryDim));
            }
        }
    }
}
