using System.Diagnostics;
using SelfSpec.Decoding;
using SelfSpec.Model;

namespace SelfSpec.Batching;

/// <summary>
/// One forward pass over the rows of several sequences (continuous batching, architecture.md 4): each sequence
/// appends its rows (token, position, its cache, whether the row needs logits), adjacent and in position order;
/// <see cref="Run"/> embeds them, runs them through every layer in one call (each weight read once for the pass,
/// each row attending only to its own cache) and computes the final logits of the rows that asked for them in one
/// head call. Batch invariance (architecture.md 2.1) makes every row's logits the bits it would get alone.
/// Buffers are sized once for the model's largest batch.
/// </summary>
internal sealed class SharedPass
{
    private readonly Transformer _m;
    private readonly DecodeCosts _costs;
    private readonly int _embd, _vocab;
    private readonly int[] _tokens, _positions, _logitIndex;
    private readonly KvCache[] _caches;
    private readonly float[] _hidden, _logits;

    public SharedPass(Transformer model, DecodeCosts costs)
    {
        _m = model;
        _costs = costs;
        _embd = model.Config.EmbeddingDim;
        _vocab = model.Config.VocabSize;
        int max = model.MaxBatch;
        _tokens = new int[max];
        _positions = new int[max];
        _logitIndex = new int[max];
        _caches = new KvCache[max];
        _hidden = new float[max * _embd];
        _logits = new float[max * _vocab];
    }

    public int Capacity => _tokens.Length;
    /// <summary>Rows in the pass so far.</summary>
    public int Rows { get; private set; }
    /// <summary>Rows whose final logits the pass computes.</summary>
    public int LogitRows { get; private set; }
    /// <summary>Seconds the last <see cref="Run"/> took (layers and head).</summary>
    public double Seconds { get; private set; }

    public void Clear()
    {
        _caches.AsSpan(0, Rows).Clear();
        Rows = LogitRows = 0;
    }

    /// <summary>Appends a row; returns its index in the pass.</summary>
    public int Add(int token, int position, KvCache cache, bool logits)
    {
        if (Rows >= Capacity) throw new InvalidOperationException($"a pass holds at most {Capacity} rows");
        int r = Rows++;
        _tokens[r] = token;
        _positions[r] = position;
        _caches[r] = cache;
        _logitIndex[r] = logits ? LogitRows++ : -1;
        return r;
    }

    /// <summary>Runs the pass: all rows through every layer, then the head over the rows that asked for logits.</summary>
    public void Run()
    {
        int n = Rows, layers = _m.Config.LayerCount;
        if (n == 0) return;
        long t0 = Stopwatch.GetTimestamp();
        _m.Embed(_tokens.AsSpan(0, n), _hidden);
        _m.Forward(_positions.AsSpan(0, n), _caches.AsSpan(0, n), _hidden.AsSpan(0, n * _embd), 0, layers);
        double forward = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        _costs.ObserveForward(n, layers, forward);
        double head = 0;
        if (LogitRows > 0)
        {
            // The rows that need logits, moved together to the front (a row only moves toward the front).
            for (int r = 0; r < n; r++)
            {
                int j = _logitIndex[r];
                if (j >= 0 && j != r) _hidden.AsSpan(r * _embd, _embd).CopyTo(_hidden.AsSpan(j * _embd, _embd));
            }
            long t1 = Stopwatch.GetTimestamp();
            _m.FinalLogits(_hidden.AsSpan(0, LogitRows * _embd), LogitRows, _logits);
            head = Stopwatch.GetElapsedTime(t1).TotalSeconds;
            _costs.ObserveHead(LogitRows, head);
        }
        Seconds = forward + head;
    }

    /// <summary>The logits of <paramref name="count"/> consecutive rows from <paramref name="row"/>, each of which asked for logits.</summary>
    public ReadOnlySpan<float> Logits(int row, int count)
    {
        int j = _logitIndex[row];
        if (j < 0 || _logitIndex[row + count - 1] != j + count - 1) throw new InvalidOperationException("those rows have no logits in this pass");
        return _logits.AsSpan(j * _vocab, count * _vocab);
    }
}
