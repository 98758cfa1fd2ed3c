using System.Numerics.Tensors;

namespace SelfSpec.Decoding;

/// <summary>
/// Log-probabilities of a logits row: log p(t) = z(t) - max - log(sum exp(z - max)), the sum taken in double so a
/// 50,000-token vocabulary loses nothing to float rounding. Deterministic for a given row, so bit-identical rows give
/// bit-identical log-probabilities whatever method produced them (docs/architecture.md, invariants).
/// </summary>
internal sealed class LogSoftmax
{
    /// <summary>The most alternatives a request may ask for (OpenAI's limit).</summary>
    public const int MaxTop = 20;

    private readonly float[] _scratch; // (vocab) z - max, then exp of it
    private readonly int[] _topIds = new int[MaxTop];
    private readonly float[] _topLogits = new float[MaxTop];

    public LogSoftmax(int vocab) => _scratch = new float[vocab];

    /// <summary>The chosen token's log-probability and the <paramref name="top"/> most likely tokens of <paramref name="logits"/>.</summary>
    public TokenLogprobs Of(ReadOnlySpan<float> logits, int token, int top)
    {
        float max = TensorPrimitives.Max(logits);
        var s = _scratch.AsSpan(0, logits.Length);
        TensorPrimitives.Subtract(logits, max, s);
        TensorPrimitives.Exp(s, s);
        double sum = 0;
        foreach (float e in s) sum += e;
        double logZ = max + Math.Log(sum);
        if (top <= 0) return new TokenLogprobs(token, (float)(logits[token] - logZ), []);
        int n = Top(logits, Math.Min(top, logits.Length));
        var list = new TopLogprob[n];
        for (int i = 0; i < n; i++) list[i] = new TopLogprob(_topIds[i], (float)(_topLogits[i] - logZ));
        return new TokenLogprobs(token, (float)(logits[token] - logZ), list);
    }

    /// <summary>
    /// The k largest logits in descending order, the lower id first among equals: one pass keeping a sorted list of k
    /// (k is at most <see cref="MaxTop"/>, so an insertion costs little and most tokens are rejected by one comparison).
    /// </summary>
    private int Top(ReadOnlySpan<float> logits, int k)
    {
        int n = 0;
        for (int t = 0; t < logits.Length; t++)
        {
            float z = logits[t];
            if (n == k && !(z > _topLogits[n - 1])) continue; // equal to the smallest kept: the kept one has the lower id
            int i = n == k ? k - 1 : n++;
            while (i > 0 && z > _topLogits[i - 1])
            {
                _topLogits[i] = _topLogits[i - 1];
                _topIds[i] = _topIds[i - 1];
                i--;
            }
            _topLogits[i] = z;
            _topIds[i] = t;
        }
        return n;
    }
}
