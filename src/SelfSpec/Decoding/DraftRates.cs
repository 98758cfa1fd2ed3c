namespace SelfSpec.Decoding;

/// <summary>
/// How often drafts are accepted, learned across a model's generations (architecture.md 5, the price bound): each
/// generation's bound starts from these instead of fixed priors and reports every verdict back, so what one answer
/// measured (this model, this machine's users) prices the next answer's first drafts. Kept like the cost table,
/// for the model's lifetime, in memory only. Recent verdicts weigh most (an exponential window of
/// <see cref="Window"/> verdicts a counter), so the rates follow a change of workload.
/// </summary>
/// <remarks>
/// Rates only decide which drafts are proposed, never what is committed (the verifier decides that), so sharing them
/// between generations changes speed, not output. Thread-safe: generations of one model may run concurrently.
/// </remarks>
internal sealed class DraftRates
{
    /// <summary>Verdicts a counter remembers, roughly: older ones fade by 1 - 1/Window a verdict.</summary>
    public const double Window = 512;
    /// <summary>Counters of lookup and datastore drafts: by match length 0..<see cref="MaxNgram"/>.</summary>
    public const int MaxNgram = 8;

    /// <summary>
    /// The index of a <see cref="Kind.LookupFirst"/> counter: the sequence's own first drafts are counted by match length
    /// and by how the match's earlier occurrences continue (<see cref="MatchAgreement"/>).
    /// </summary>
    public static int LookupFirstIndex(int ngram, MatchAgreement agreement) => (int)agreement * (MaxNgram + 1) + Math.Min(ngram, MaxNgram);

    /// <summary>What a counter counts.</summary>
    public enum Kind { LookupFirst, LookupNext, StoreFirst, StoreNext, ExitAccept, ExitFire }

    private readonly Lock _gate = new();
    private readonly double[,] _hits, _trials; // (kind, index): index is the match length (LookupFirstIndex for LookupFirst) or the exit layer

    /// <param name="layers">the model's layer count (exit counters by layer 0..layers)</param>
    public DraftRates(int layers)
    {
        int size = Math.Max(LookupFirstIndex(MaxNgram, MatchAgreement.Split), layers) + 1;
        int kinds = Enum.GetValues<Kind>().Length;
        _hits = new double[kinds, size];
        _trials = new double[kinds, size];
    }

    /// <summary>
    /// The learned rate for a counter blended with <paramref name="prior"/> worth <paramref name="priorWeight"/>
    /// verdicts: the prior alone until verdicts arrive, the measurement once they outnumber it.
    /// </summary>
    public double Rate(Kind kind, int index, double prior, double priorWeight)
    {
        lock (_gate)
        {
            if ((uint)index >= (uint)_hits.GetLength(1)) return prior;
            return (prior * priorWeight + _hits[(int)kind, index]) / (priorWeight + _trials[(int)kind, index]);
        }
    }

    /// <summary>Verdicts recorded on a counter, decayed (for reports and tests).</summary>
    public double Trials(Kind kind, int index)
    {
        lock (_gate) return (uint)index < (uint)_trials.GetLength(1) ? _trials[(int)kind, index] : 0;
    }

    public void Add(Kind kind, int index, bool hit)
    {
        const double keep = 1 - 1 / Window;
        lock (_gate)
        {
            if ((uint)index >= (uint)_hits.GetLength(1)) return;
            _hits[(int)kind, index] = _hits[(int)kind, index] * keep + (hit ? 1 : 0);
            _trials[(int)kind, index] = _trials[(int)kind, index] * keep + 1;
        }
    }

    /// <summary>Forgets everything learned (tests that need the bound's priors).</summary>
    public void Clear()
    {
        lock (_gate)
        {
            Array.Clear(_hits);
            Array.Clear(_trials);
        }
    }
}
