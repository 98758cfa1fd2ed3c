using System.Numerics.Tensors;

namespace SelfSpec.Sampling;

/// <summary>
/// Turns logits into the distribution the options describe (<see cref="Distribution"/>) and draws from it.
/// The distribution is explicit so speculative decoding can use the exact p and q of its acceptance rule.
/// Buffers are sized once for the vocabulary; sampling a token allocates nothing.
/// </summary>
public sealed class Sampler
{
    private readonly SamplingOptions _options;
    private readonly Xoshiro256 _rng;
    private readonly float[] _work;
    private readonly float[] _probs;
    private readonly int[] _candidates;
    private readonly float[] _sortKeys;
    private readonly HashSet<int> _seen = [];

    public int VocabSize { get; }
    public SamplingOptions Options => _options;

    public Sampler(SamplingOptions options, int vocabSize)
    {
        options.Validate();
        _options = options;
        VocabSize = vocabSize;
        _rng = new Xoshiro256(options.Seed);
        _work = new float[vocabSize];
        _probs = new float[vocabSize];
        _candidates = new int[vocabSize];
        _sortKeys = new float[vocabSize];
    }

    /// <summary>Index of the largest value; the lowest index wins ties.</summary>
    public static int ArgMax(ReadOnlySpan<float> logits) => TensorPrimitives.IndexOfMax(logits);

    /// <summary>Chooses the next token from <paramref name="logits"/> given the tokens so far.</summary>
    public int Sample(ReadOnlySpan<float> logits, ReadOnlySpan<int> history)
    {
        if (_options.IsGreedy && _options.RepetitionPenalty == 1f) return ArgMax(logits);
        // Not _work: Distribution sorts with it when top-k or top-p needs an order.
        Distribution(logits, history, _probs);
        return Draw(_probs);
    }

    /// <summary>
    /// Writes into <paramref name="probs"/> (vocab) the probability of every token after penalty, filters and
    /// temperature. Greedy options give a one-hot distribution.
    /// </summary>
    public void Distribution(ReadOnlySpan<float> logits, ReadOnlySpan<int> history, Span<float> probs)
    {
        int v = VocabSize;
        if (logits.Length != v || probs.Length != v) throw new ArgumentException("logits and probs must have the vocabulary's length");
        var work = _sortKeys.AsSpan(0, v);
        logits.CopyTo(work);
        ApplyRepetitionPenalty(work, history);

        probs.Clear();
        if (_options.IsGreedy)
        {
            probs[ArgMax(work)] = 1f;
            return;
        }

        // Candidates: all tokens, or the top k, in descending logit order when an order is needed.
        int count = v;
        var cand = _candidates.AsSpan(0, v);
        for (int i = 0; i < v; i++) cand[i] = i;
        bool needOrder = (_options.TopK > 0 && _options.TopK < v) || _options.TopP < 1f;
        if (needOrder)
        {
            var keys = _work.AsSpan(0, v);
            for (int i = 0; i < v; i++) keys[i] = -work[i];
            // Stable by index on ties: sort (key, index) pairs; the index breaks ties because Sort is unstable.
            keys.Sort(cand, Comparer<float>.Default);
            SortTiesByIndex(keys, cand);
            if (_options.TopK > 0 && _options.TopK < v) count = _options.TopK;
        }

        // Softmax over candidates (before temperature, as llama.cpp's filters see it).
        float max = float.NegativeInfinity;
        for (int i = 0; i < count; i++) max = MathF.Max(max, work[cand[i]]);
        double sum = 0;
        for (int i = 0; i < count; i++) sum += probs[cand[i]] = MathF.Exp(work[cand[i]] - max);

        if (_options.TopP < 1f)
        {
            double cumulative = 0;
            int keep = count;
            for (int i = 0; i < count; i++)
            {
                cumulative += probs[cand[i]] / sum;
                if (cumulative >= _options.TopP) { keep = i + 1; break; }
            }
            for (int i = keep; i < count; i++) probs[cand[i]] = 0f;
            count = keep;
        }

        if (_options.MinP > 0f)
        {
            // Relative to the most likely candidate, whose unnormalized weight is exp(0) = 1.
            int kept = 0;
            for (int i = 0; i < count; i++)
            {
                if (probs[cand[i]] >= _options.MinP) cand[kept++] = cand[i];
                else probs[cand[i]] = 0f;
            }
            count = kept;
        }

        // Temperature on the survivors, then normalize.
        for (int i = 0; i < count; i++) probs[cand[i]] = 0f;
        float inv = 1f / _options.Temperature;
        float maxT = float.NegativeInfinity;
        for (int i = 0; i < count; i++) maxT = MathF.Max(maxT, work[cand[i]] * inv);
        double total = 0;
        for (int i = 0; i < count; i++) total += probs[cand[i]] = MathF.Exp(work[cand[i]] * inv - maxT);
        float norm = (float)(1.0 / total);
        for (int i = 0; i < count; i++) probs[cand[i]] *= norm;
    }

    /// <summary>Draws a token from a probability vector (need not be normalized).</summary>
    public int Draw(ReadOnlySpan<float> probs)
    {
        double total = 0;
        for (int i = 0; i < probs.Length; i++) total += probs[i];
        if (!(total > 0)) throw new InvalidOperationException("cannot draw from an empty distribution");
        double u = _rng.NextDouble() * total;
        double cumulative = 0;
        int last = -1;
        for (int i = 0; i < probs.Length; i++)
        {
            if (probs[i] <= 0f) continue;
            cumulative += probs[i];
            last = i;
            if (u < cumulative) return i;
        }
        return last;
    }

    /// <summary>A uniform draw in [0, 1) from this sampler's stream (for acceptance tests).</summary>
    public double NextUniform() => _rng.NextDouble();

    private void ApplyRepetitionPenalty(Span<float> logits, ReadOnlySpan<int> history)
    {
        float penalty = _options.RepetitionPenalty;
        if (penalty == 1f || _options.RepetitionWindow == 0) return;
        var window = history.Length > _options.RepetitionWindow ? history[^_options.RepetitionWindow..] : history;
        _seen.Clear();
        foreach (int t in window)
        {
            if ((uint)t >= (uint)logits.Length || !_seen.Add(t)) continue;
            logits[t] = logits[t] > 0 ? logits[t] / penalty : logits[t] * penalty;
        }
    }

    private static void SortTiesByIndex(Span<float> keys, Span<int> indices)
    {
        int i = 0;
        while (i < keys.Length)
        {
            int j = i + 1;
            while (j < keys.Length && keys[j] == keys[i]) j++;
            if (j - i > 1) indices[i..j].Sort();
            i = j;
        }
    }
}
