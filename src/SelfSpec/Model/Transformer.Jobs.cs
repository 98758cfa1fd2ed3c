using System.Runtime.CompilerServices;
using SelfSpec.Kernels;
using SelfSpec.Threading;

namespace SelfSpec.Model;

/// <summary>
/// The parallel jobs of the forward pass: matrix products split by output columns, attention split by (row, head),
/// the per-row stages between them split by rows.
/// </summary>
internal sealed partial class Transformer
{
    /// <summary>A row stage (<see cref="RowStage"/>) over the pass's rows, split across workers by rows.</summary>
    private sealed class RowJob(Transformer t) : IParallelWork
    {
        private RowStage _stage;
        private int _n;

        public void Set(RowStage stage, int n)
        {
            _stage = stage;
            _n = n;
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Execute(int worker, int workers)
        {
            var (start, end) = WorkerPool.Split(_n, worker, workers);
            if (start < end) t.RunRows(_stage, worker, start, end);
        }
    }

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
        private readonly int[] _positions = new int[t.MaxBatch];
        private readonly int[][] _offsets = NewPerWorker(t), _counts = NewPerWorker(t);
        private int _n, _layer, _window;

        private static int[][] NewPerWorker(Transformer t) =>
            Enumerable.Range(0, t._pool.ThreadCount).Select(_ => new int[t.MaxBatch * t._c.HeadCount]).ToArray();

        /// <summary>The pass's rows; their caches are the transformer's (set for the pass, cleared after it).</summary>
        public void Set(ReadOnlySpan<int> positions, int layer)
        {
            positions.CopyTo(_positions);
            _n = positions.Length;
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
                    counts[m] = _positions[row] + 1;
                }
                Attention.Queries(t._q.AsSpan(0, _n * c.QueryDim), offsets.AsSpan(0, m), counts.AsSpan(0, m), headDim,
                    cache.HeadKeys(_layer, kvHead), cache.HeadValues(_layer, kvHead), t._attentionScale, t._scores[worker], t._attn.AsSpan(0, _n * c.QueryDim),
                    t._r.AttentionSoftCap, _window);
            }
        }
    }
}
