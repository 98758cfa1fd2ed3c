namespace SelfSpec.Decoding;

/// <summary>
/// What a forward call costs on this machine, by batch size, timed from the decoding loop and kept for the model's
/// lifetime (costs belong to the machine and the model, not to a prompt): seconds per layer for a call of n rows,
/// the final head for n rows, and an exit-head call. The price bound (<see cref="PriceBound"/>) reads the marginal
/// cost of one more row from here.
///
/// Why by batch size and not one "extra row" constant: the batched kernels are not linear. On SmolLM2-135M a second
/// row costs about a fifth of a one-row pass, the third to fifth more each, and prefill chunks (64 rows) still more
/// per row; one constant fitted to prefill made every draft look too expensive.
/// Each estimate follows the lower envelope of its measurements: other work on the machine only ever adds time.
/// Sizes never measured are extrapolated from the nearest smaller measured size with <see cref="PriorRho"/>.
/// A size measured fewer than <see cref="Confirmations"/> times counts at most that extrapolation: one sample
/// taken while another process held a core would otherwise make drafts look too dear, the bound would stop
/// drafting, and with it the samples that could correct the estimate (seen on the bench: a first 2-row head
/// timed at 3.4 ms against 1.3 for one row kept lookup to 25 drafts in 12 prompts). Too low an estimate corrects
/// itself, since the drafts it allows are timed. And n rows never cost more than n - 1 rows plus a call of one.
/// </summary>
internal sealed class DecodeCosts
{
    /// <summary>Prior cost of one more row relative to the one-row cost, until measured (forward curve of EVIDENCE 5 and README).</summary>
    public const double PriorRho = 0.3;
    /// <summary>Prior head-to-layer cost ratio until the head is timed (a tied Q8_0 head of SmolLM2-135M, EVIDENCE 5).</summary>
    private const double PriorHeadToLayer = 13.6;
    /// <summary>Samples after which a size's measurement is believed even above the extrapolation.</summary>
    public const int Confirmations = 3;
    private const double Rise = 0.05, Fall = 0.5;

    private readonly double[] _layer; // seconds per layer of a call of n rows; 0 = not measured
    private readonly double[] _head;  // seconds of the final head over n rows; 0 = not measured
    private readonly int[] _layerSamples, _headSamples;
    private double _exitHead;

    /// <param name="maxRows">the largest batch the decoding loop runs through the layers</param>
    public DecodeCosts(int maxRows)
    {
        _layer = new double[maxRows + 1];
        _head = new double[maxRows + 1];
        _layerSamples = new int[maxRows + 1];
        _headSamples = new int[maxRows + 1];
    }

    public int MaxRows => _layer.Length - 1;

    public void ObserveForward(int rows, int layers, double seconds)
    {
        if (rows < 1 || rows > MaxRows || layers <= 0 || !(seconds > 0)) return;
        Track(ref _layer[rows], seconds / layers);
        _layerSamples[rows]++;
    }

    public void ObserveHead(int rows, double seconds)
    {
        if (rows < 1 || rows > MaxRows || !(seconds > 0)) return;
        Track(ref _head[rows], seconds);
        _headSamples[rows]++;
    }

    public void ObserveExitHead(double seconds)
    {
        if (seconds > 0) Track(ref _exitHead, seconds);
    }

    private static void Track(ref double estimate, double observed) =>
        estimate = estimate == 0 ? observed : estimate + (observed < estimate ? Fall : Rise) * (observed - estimate);

    /// <summary>Seconds per layer of a call of <paramref name="rows"/> rows.</summary>
    public double Layer(int rows) => Estimate(_layer, _layerSamples, rows, 1e-4);

    /// <summary>Seconds of the final head over <paramref name="rows"/> rows.</summary>
    public double Head(int rows) => Estimate(_head, _headSamples, rows, PriorHeadToLayer * Layer(1));

    /// <summary>Seconds of one exit-head call; <paramref name="prior"/> (in layer reads) until timed.</summary>
    public double ExitHead(double prior) => _exitHead > 0 ? _exitHead : prior * Layer(1);

    /// <summary>What a call of rows + 1 rows adds per layer over rows rows (never negative).</summary>
    public double MarginalLayer(int rows) => Math.Max(0, Layer(rows + 1) - Layer(rows));

    /// <summary>What the final head over rows + 1 rows adds over rows rows (never negative).</summary>
    public double MarginalHead(int rows) => Math.Max(0, Head(rows + 1) - Head(rows));

    /// <summary>One more row through a layer relative to a one-row layer call, at the given batch (rho of EVIDENCE 5).</summary>
    public double Rho(int rows) => MarginalLayer(rows) / Layer(1);

    /// <summary>
    /// The measured value at this size (at most the extrapolation until confirmed), else the nearest smaller size
    /// plus <see cref="PriorRho"/> of the one-row value per missing row; never decreasing with size, and never
    /// more than the size below plus the one-row value.
    /// </summary>
    private static double Estimate(double[] table, int[] samples, int rows, double unmeasuredOne)
    {
        rows = Math.Clamp(rows, 1, table.Length - 1);
        double one = table[1] > 0 ? table[1] : unmeasuredOne;
        double value = one;
        for (int n = 2; n <= rows; n++)
        {
            double extrapolated = value + PriorRho * one;
            double measured = table[n] == 0 ? extrapolated
                : samples[n] < Confirmations ? Math.Min(table[n], extrapolated)
                : table[n];
            value = Math.Max(value, Math.Min(measured, value + one));
        }
        return value;
    }
}
