using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using SelfSpec.Model;

namespace SelfSpec.Decoding;

/// <summary>
/// The rows of a speculative round. Rows 0..k sit at positions P..P+k: row 0 holds the last committed token x_0,
/// row i the draft x_i. Each row has a depth (layers computed); depths never increase along the rows, so the rows at
/// any depth form one block. Buffers are sized once per generation.
/// </summary>
internal sealed class RoundRows
{
    private readonly Transformer _m;
    private readonly KvCache _cache;
    private readonly DecodeCosts _costs;
    private readonly DecodeStats _stats;
    private readonly int _embd;
    private readonly float[] _hidden;  // (MaxBatch x embd) prefill chunk, then the round's rows
    private readonly int[] _depth;     // (maxRows)
    private readonly int[] _positions; // (MaxBatch)

    public RoundRows(Transformer model, KvCache cache, DecodeCosts costs, DecodeStats stats, int maxRows, List<int> tokens)
    {
        _m = model;
        _cache = cache;
        _costs = costs;
        _stats = stats;
        _embd = model.Config.EmbeddingDim;
        _hidden = new float[model.MaxBatch * _embd];
        _depth = new int[maxRows];
        _positions = new int[model.MaxBatch];
        Tokens = tokens;
    }

    /// <summary>Committed tokens, then the round's drafts.</summary>
    public List<int> Tokens { get; }
    /// <summary>Rows in the current round (1 + drafts).</summary>
    public int Count { get; private set; }
    /// <summary>Forward time counts as drafting (else verification).</summary>
    public bool Drafting { get; set; }
    public float[] Hidden => _hidden;
    public int[] Positions => _positions;

    public int Depth(int row) => _depth[row];

    /// <summary>Row k's hidden state.</summary>
    public ReadOnlySpan<float> Row(int k) => _hidden.AsSpan(k * _embd, _embd);

    /// <summary>Starts a round with row 0: the last committed token, at position <paramref name="p"/>.</summary>
    public void Begin(int p)
    {
        Count = 1;
        _depth[0] = 0;
        _positions[0] = p;
        _m.Embed(CollectionsMarshal.AsSpan(Tokens).Slice(p, 1), _hidden);
    }

    /// <summary>Adds a row for draft <paramref name="token"/> at depth 0.</summary>
    public void Append(int token)
    {
        int row = Count++;
        _depth[row] = 0;
        _positions[row] = _positions[0] + row;
        Tokens.Add(token);
        _m.Embed(new ReadOnlySpan<int>(in token), _hidden.AsSpan(row * _embd, _embd));
    }

    /// <summary>
    /// Brings row j to depth <paramref name="target"/>. Layer by depth block: the rows at row j's depth (a block
    /// ending at j) run up to the next deeper row's depth, where that row joins them (catch-up: attention there needs
    /// exact keys and values of every earlier position), and so on.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void AdvanceTo(int j, int target)
    {
        while (_depth[j] < target)
        {
            int from = _depth[j];
            int a = j;
            while (a > 0 && _depth[a - 1] == from) a--;
            int to = a > 0 ? Math.Min(target, _depth[a - 1]) : target;
            int n = j - a + 1;
            long t0 = Stopwatch.GetTimestamp();
            _m.Forward(_positions.AsSpan(a, n), _hidden.AsSpan(a * _embd, n * _embd), from, to, _cache);
            double seconds = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            if (Drafting) _stats.DraftSeconds += seconds; else _stats.VerifySeconds += seconds;
            _stats.PredictedSeconds += (to - from) * _costs.Layer(n);
            _costs.ObserveForward(n, to - from, seconds);
            _stats.LayerRows += (long)n * (to - from);
            for (int i = a; i <= j; i++) _depth[i] = to;
        }
    }
}
