namespace SelfSpec.Bench;

/// <summary>Seconds of one forward pass over n positions with logits for every row, n = 1..MaxN, for SelfSpec and llama.cpp.</summary>
internal sealed record ForwardCurveResult(int PrefixTokens, int Reps, double[] SelfSpecSeconds, double[]? LlamaCppSeconds)
{
    public int MaxN => SelfSpecSeconds.Length - 1;
    public static double Relative(double[] seconds, int n) => seconds[n] / seconds[1];
}

/// <summary>A forward pass of n positions (n = 1..MaxN) after a fixed prompt, timed once per call.</summary>
internal interface IForwardTimer
{
    double Seconds(int n);
}

/// <summary>SelfSpec's side of the curve: the library's <see cref="ForwardProbe"/> (embed, every layer, logits for all n rows).</summary>
internal sealed class SelfSpecForwardTimer(LanguageModel lm, int threads, int[] prefix, int maxN) : IForwardTimer, IDisposable
{
    private readonly ForwardProbe _probe = new(lm, prefix, maxN, threads);

    public double Seconds(int n) => _probe.Measure(n);

    public void Dispose() => _probe.Dispose();
}

/// <summary>
/// The curve, SelfSpec and llama.cpp interleaved: each repetition times every batch size of both engines in
/// turn, so drift and other processes' noise hit all points alike; each point is the median.
/// </summary>
internal static class ForwardCurve
{
    /// <summary>Warm-up passes per batch size before timing (JIT tiering, caches, llama.cpp's graph allocation).</summary>
    private const int WarmUp = 3;

    public static (double[] Mine, double[]? Theirs) Measure(IForwardTimer mine, IForwardTimer? theirs, int maxN, int reps, Action<string>? onRep = null)
    {
        var a = new double[maxN + 1][];
        var b = new double[maxN + 1][];
        for (int n = 1; n <= maxN; n++) { a[n] = new double[reps]; b[n] = new double[reps]; }
        for (int r = -WarmUp; r < reps; r++)
        {
            onRep?.Invoke(r < 0 ? $"forward-pass curve: warm-up {r + WarmUp + 1}/{WarmUp}" : $"forward-pass curve: repetition {r + 1}/{reps}");
            for (int n = 1; n <= maxN; n++)
            {
                double s = mine.Seconds(n);
                double t = theirs?.Seconds(n) ?? 0;
                if (r < 0) continue;
                a[n][r] = s;
                b[n][r] = t;
            }
        }
        var ma = new double[maxN + 1];
        var mb = new double[maxN + 1];
        for (int n = 1; n <= maxN; n++) { ma[n] = Stats.Median(a[n]); mb[n] = Stats.Median(b[n]); }
        return (ma, theirs != null ? mb : null);
    }

    /// <summary>A prompt of exactly <paramref name="length"/> tokens: the given ids repeated.</summary>
    public static int[] Prefix(int[] seed, int length)
    {
        var p = new int[length];
        for (int i = 0; i < length; i++) p[i] = seed[i % seed.Length];
        return p;
    }

    /// <summary>The tokens of the timed batch (any ids do: cost does not depend on them).</summary>
    public static int[] BatchTokens(int[] prefix, int maxN)
    {
        var t = new int[maxN];
        for (int i = 0; i < maxN; i++) t[i] = prefix[(i * 7 + 1) % prefix.Length];
        return t;
    }
}
