using System.Runtime.CompilerServices;
using SelfSpec.Kernels;
using SelfSpec.Threading;

namespace SelfSpec.Model;

/// <summary>The parallel jobs of the forward pass: matrix products split by output columns, attention split by (row, head).</summary>
internal sealed partial class Transformer
{
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
    /// heads in every row) that read the same sequence's cache run as one call so they share the widened keys and
    /// values. A run ends where the next row belongs to another sequence: a row attends only to its own cache.
    /// </summary>
    private sealed class AttentionJob(Transformer t) : IParallelWork
    {
        private readonly int[][] _offsets = NewPerWorker(t), _counts = NewPerWorker(t);
        private int _n, _layer, _window;

        private static int[][] NewPerWorker(Transformer t) =>
            Enumerable.Range(0, t._pool.ThreadCount).Select(_ => new int[t.MaxBatch * t._c.HeadCount]).ToArray();

        /// <summary>The pass's rows; their positions and caches are the transformer's (set for the pass).</summary>
        public void Set(int n, int layer)
        {
            _n = n;
            _layer = layer;
            _window = t._r.Window(layer);
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
                var caches = t._caches;
                var cache = caches[(job - kvHead * perKvHead) / group];
                for (; job < runEnd; job++, m++)
                {
                    int inKvHead = job - kvHead * perKvHead, row = inKvHead / group, h = kvHead * group + inKvHead % group;
                    if (!ReferenceEquals(caches[row], cache)) break;
                    offsets[m] = row * c.QueryDim + h * headDim;
                    counts[m] = t._positions[row] + 1;
                }
                Attention.Queries(t._q.AsSpan(0, _n * c.QueryDim), offsets.AsSpan(0, m), counts.AsSpan(0, m), headDim,
                    cache.HeadKeys(_layer, kvHead), cache.HeadValues(_layer, kvHead), t._attentionScale, t._scores[worker], t._attn.AsSpan(0, _n * c.QueryDim),
                    t._r.AttentionSoftCap, _window);
            }
        }
    }
}

internal enum RowStage { QuantizeActivations, PrepareQueriesAndKeys, GatedActivation }

internal sealed partial class Transformer
{
    /// <summary>
    /// The per-row stages between the matrix products (activation quantization, query/key preparation and cache
    /// writes, the gated activation), split across workers by rows when a batch is large enough to repay a dispatch
    /// (prefill chunks, wide verification), run on the calling thread otherwise. Each row is computed by the same
    /// per-row call either way, so the split changes no bits (architecture.md 2.1).
    /// </summary>
    private sealed class RowJob(Transformer t) : IParallelWork
    {
        /// <summary>Rows from which a stage is split across workers; below, a dispatch costs more than it saves.</summary>
        public const int ParallelRows = 8;

        private RowStage _stage;
        private int _n, _layer;
        private WeightMatrix _w;
        private float[] _input = [];

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Run(RowStage stage, int n, int layer = 0, WeightMatrix w = default, float[]? input = null)
        {
            _stage = stage;
            _n = n;
            _layer = layer;
            _w = w;
            _input = input ?? [];
            if (n >= ParallelRows && t._pool.ThreadCount > 1) t._pool.Run(this);
            else Execute(0, 1);
            _input = [];
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Execute(int worker, int workers)
        {
            var (from, to) = WorkerPool.Split(_n, worker, workers);
            if (from >= to) return;
            switch (_stage)
            {
                case RowStage.QuantizeActivations: t.QuantizeRows(_w, _input, from, to); break;
                case RowStage.PrepareQueriesAndKeys: t.PrepareQueriesAndKeys(_layer, from, to, worker); break;
                default: t.GatedActivation(from, to); break;
            }
        }
    }
}
