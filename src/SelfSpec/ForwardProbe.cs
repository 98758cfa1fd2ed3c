using System.Diagnostics;
using SelfSpec.Model;
using SelfSpec.Threading;

namespace SelfSpec;

/// <summary>
/// Times what verifying a round costs: one forward pass over n rows (embedding, every layer, the final logits of every
/// row) on a KV cache that already holds a prefix, at the positions after it (docs/architecture.md, what decides
/// speed). For benchmarks and cost reports: the same positions are recomputed at every call and never committed.
/// </summary>
/// <remarks>
/// The probe runs on its own forward-pass state and worker pool over the model's mapped weights (nothing is copied),
/// so it neither takes a session's turn on the model nor disturbs the model's cost table; it calls exactly the kernels
/// a decoder calls. Not thread-safe: one call at a time per probe.
/// </remarks>
public sealed class ForwardProbe : IDisposable
{
    private readonly WorkerPool _pool;
    private readonly Transformer _t;
    private readonly KvCache _cache;
    private readonly ModelConfig _c;
    private readonly float[] _hidden, _logits;
    private readonly int[] _positions, _tokens;
    private bool _disposed;

    /// <summary>Prefills <paramref name="prefix"/> and prepares batches of up to <paramref name="maxRows"/> rows after it.</summary>
    /// <param name="model">the model whose weights are timed</param>
    /// <param name="prefix">the context already in the cache (token ids, at least one)</param>
    /// <param name="maxRows">the largest batch <see cref="Measure"/> will be asked for (1..<see cref="LanguageModel.MaxBatch"/>)</param>
    /// <param name="threads">worker threads; 0 = the model's thread count</param>
    /// <exception cref="InvalidRequestException">an empty prefix, a bad token id, a batch size or thread count out of range, or a prefix that does not fit the context</exception>
    public ForwardProbe(LanguageModel model, ReadOnlySpan<int> prefix, int maxRows, int threads = 0)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (prefix.IsEmpty) throw new InvalidRequestException("the probe's prefix must hold at least one token");
        if (maxRows < 1 || maxRows > LanguageModel.MaxBatch) throw new InvalidRequestException($"probe batch size {maxRows} must be between 1 and {LanguageModel.MaxBatch}");
        if (threads < 0 || threads > 256) throw new InvalidRequestException($"thread count {threads} must be between 0 (the model's) and 256");
        _c = model.Config;
        int capacity = prefix.Length + maxRows;
        if (capacity > _c.ContextLength) throw new InvalidRequestException($"prefix of {prefix.Length} tokens and {maxRows} rows exceed the context of {_c.ContextLength}");
        foreach (int t in prefix)
            if ((uint)t >= (uint)_c.VocabSize) throw new InvalidRequestException($"token id {t} is outside the vocabulary (0..{_c.VocabSize - 1})");
        _pool = new WorkerPool(threads == 0 ? model.Threads : threads);
        try
        {
            _t = new Transformer(model.Transformer.Weights, _pool, LanguageModel.MaxBatch, capacity);
            _cache = new KvCache(_c, capacity);
            _hidden = new float[_t.MaxBatch * _c.EmbeddingDim];
            _logits = new float[maxRows * _c.VocabSize];
            _positions = new int[_t.MaxBatch];
            for (int start = 0; start < prefix.Length; start += _t.MaxBatch)
            {
                int n = Math.Min(_t.MaxBatch, prefix.Length - start);
                for (int i = 0; i < n; i++) _positions[i] = start + i;
                _t.Embed(prefix.Slice(start, n), _hidden);
                _t.Forward(_positions.AsSpan(0, n), _hidden.AsSpan(0, n * _c.EmbeddingDim), 0, _c.LayerCount, _cache);
            }
            _cache.Commit(prefix.Length);
            // The batch's tokens: any ids do (cost does not depend on them); spread over the prefix.
            _tokens = new int[maxRows];
            for (int i = 0; i < maxRows; i++) _tokens[i] = prefix[(i * 7 + 1) % prefix.Length];
            for (int i = 0; i < maxRows; i++) _positions[i] = prefix.Length + i;
        }
        catch
        {
            _pool.Dispose();
            throw;
        }
        PrefixLength = prefix.Length;
        MaxRows = maxRows;
        Threads = _pool.ThreadCount;
    }

    /// <summary>Positions in the cache before each timed batch.</summary>
    public int PrefixLength { get; }

    /// <summary>The largest batch this probe times.</summary>
    public int MaxRows { get; }

    /// <summary>The probe's worker threads.</summary>
    public int Threads { get; }

    /// <summary>Seconds of one pass over <paramref name="rows"/> rows: embedding, every layer, and the logits of every row.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="rows"/> is outside 1..<see cref="MaxRows"/></exception>
    public double Measure(int rows)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentOutOfRangeException.ThrowIfLessThan(rows, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(rows, MaxRows);
        long t0 = Stopwatch.GetTimestamp();
        _t.Embed(_tokens.AsSpan(0, rows), _hidden);
        _t.Forward(_positions.AsSpan(0, rows), _hidden.AsSpan(0, rows * _c.EmbeddingDim), 0, _c.LayerCount, _cache);
        _t.FinalLogits(_hidden, rows, _logits);
        return Stopwatch.GetElapsedTime(t0).TotalSeconds;
    }

    /// <summary>
    /// Whether forward passes record their time stage by stage (<see cref="StageTimes"/>): set by the environment
    /// variable <c>SELFSPEC_PROFILE=1</c> when the process starts, so ordinary runs pay nothing.
    /// </summary>
    public static bool ProfilingEnabled => ForwardProfile.Enabled;

    /// <summary>Clears the stage times recorded so far (all forward passes in the process).</summary>
    public static void ResetStageTimes() => ForwardProfile.Reset();

    /// <summary>
    /// Time per stage (norm, activation quantization, matrix products, RoPE and cache writes, attention, residual adds,
    /// activation, output head) of every forward pass in the process since the last reset; empty figures unless
    /// <see cref="ProfilingEnabled"/>. Timed on the dispatching thread: a parallel stage includes waiting for its slowest worker.
    /// </summary>
    public static IReadOnlyList<ForwardStageTime> StageTimes() =>
        [.. ForwardProfile.Snapshot().Select(s => new ForwardStageTime(s.Stage.ToString(), s.Seconds, s.Calls))];

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _pool.Dispose();
    }
}

/// <summary>Time spent in one stage of the forward pass (see <see cref="ForwardProbe.StageTimes"/>).</summary>
/// <param name="Stage">the stage's name</param>
/// <param name="Seconds">total seconds</param>
/// <param name="Calls">how many times the stage ran</param>
public readonly record struct ForwardStageTime(string Stage, double Seconds, long Calls);
