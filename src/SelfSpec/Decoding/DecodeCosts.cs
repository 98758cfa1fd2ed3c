namespace SelfSpec.Decoding;

/// <summary>
/// What a forward call costs on this machine, by batch size, timed from the decoding loop and kept for the model's
/// lifetime (costs belong to the machine and the model, not to a prompt): seconds per layer for a call of n rows,
/// the final head for n rows, and an exit-head call. The price bound (<see cref="PriceBound"/>) reads the marginal
/// cost of one more row from here.
///
/// Why by batch size and not one "extra row" constant: the batched kernels are not linear. On SmolLM2-135M a second
/// row costs about a fifth to two fifths of a one-row pass, the third and fourth more each (the head's rows are
/// compute-bound); one constant fitted to prefill made every draft look too expensive.
///
/// How, on a machine whose speed moves from second to second (shared cores, other processes): the one-row costs
/// are running medians of their samples, and an n-row cost is the one-row cost times a running median of n-row
/// samples divided by the one-row median at the time, so a slow spell moves both alike and leaves the ratios the
/// bound decides by. A median moves by <see cref="Step"/> of itself per sample whatever the sample, so one sample
/// taken while another process held the core (or code was not yet optimized) barely moves it. A size starts at
/// its estimate from the sizes around it (between two measured sizes on the line between them, else the size below
/// plus at most <see cref="PriorRho"/> of a one-row call per row), not at its first
/// sample: a first sample too high would make drafts look too dear, the bound would stop drafting, and with it
/// the samples that could correct it (seen on the bench: a first 2-row head timed at 3.4 ms against 1.3 for one
/// row kept lookup to 25 drafts in 12 prompts); an estimate too low corrects itself, since the drafts it allows
/// are timed. Costs never decrease with size, and n rows never cost more than n - 1 rows plus a call of one.
/// </summary>
internal sealed class DecodeCosts
{
    /// <summary>
    /// Prior cost of one more row relative to the one-row cost, until measured: the packed kernels serve up to 8
    /// activation rows from each unpacked weight block (architecture.md 3), and a verify pass of 8 rows costs about
    /// 1.8x one row on SmolLM2-135M Q4_1 (0.11 a row). A little above that, since an estimate too low corrects itself
    /// (the drafts it lets through are timed) but one too high is not tested (below).
    /// </summary>
    public const double PriorRho = 0.15;
    /// <summary>How far one sample moves a running median, relative to it.</summary>
    public const double Step = 0.04;
    /// <summary>
    /// Head-to-layer cost ratio assumed by a table made without the model's own (tests on tiny models): the bytes of
    /// SmolLM2-135M's tied Q8_0 head over one of its Q4_1 layers.
    /// </summary>
    public const double DefaultHeadToLayer = 13.6;

    private double _layerOne, _headOne, _exitHead; // running medians in seconds; 0 = not measured
    private readonly double[] _layerRatio;        // n rows over one row, per layer; 0 = not measured
    private readonly double[] _headRatio;         // the head over n rows over one row; 0 = not measured

    /// <param name="maxRows">the largest batch the decoding loop runs through the layers</param>
    /// <param name="headToLayer">
    /// the model's final head over one layer in weight bytes (decoding one row streams the weights, so bytes predict
    /// time): the head's prior cost until it is timed
    /// </param>
    public DecodeCosts(int maxRows, double headToLayer = DefaultHeadToLayer)
    {
        HeadToLayerPrior = headToLayer;
        _layerRatio = new double[maxRows + 1];
        _headRatio = new double[maxRows + 1];
    }

    public int MaxRows => _layerRatio.Length - 1;

    /// <summary>
    /// A frozen copy whose exit-head call costs <paramref name="exitHeadSeconds"/>: calibration's search prices each
    /// draft vocabulary with the table its timing rounds filled.
    /// </summary>
    internal DecodeCosts FrozenWithExitHead(double exitHeadSeconds)
    {
        var copy = new DecodeCosts(MaxRows, HeadToLayerPrior)
        {
            _layerOne = _layerOne,
            _headOne = _headOne,
            _exitHead = exitHeadSeconds > 0 ? exitHeadSeconds : _exitHead,
            Frozen = true,
        };
        _layerRatio.CopyTo(copy._layerRatio, 0);
        _headRatio.CopyTo(copy._headRatio, 0);
        return copy;
    }

    /// <summary>
    /// Test-only: a frozen table with exactly these costs (one-row layer and head seconds; the cost of 1, 2, ... rows
    /// relative to one row, layer and head alike), where learning from samples would leave each size within
    /// <see cref="Step"/> of its value and so make a decision near the margin depend on the order of the samples.
    /// </summary>
    internal static DecodeCosts Exactly(double layerSeconds, double headSeconds, double[] ratios)
    {
        var c = new DecodeCosts(ratios.Length) { _layerOne = layerSeconds, _headOne = headSeconds, Frozen = true };
        for (int n = 2; n <= ratios.Length; n++) c._layerRatio[n] = c._headRatio[n] = ratios[n - 1];
        return c;
    }

    /// <summary>Test-only: observations are ignored, so a test of the bound's decisions does not depend on this machine's timings.</summary>
    internal bool Frozen { get; set; }

    /// <summary>The final head's cost in layers assumed until it is timed.</summary>
    public double HeadToLayerPrior { get; }

    /// <summary>Forgets every timing (the warm-up's first pass, which includes compilation; tests that fix the table).</summary>
    public void Clear()
    {
        _layerOne = _headOne = _exitHead = 0;
        Array.Clear(_layerRatio);
        Array.Clear(_headRatio);
    }

    public void ObserveForward(int rows, int layers, double seconds)
    {
        if (Frozen) return;
        if (rows < 1 || rows > MaxRows || layers <= 0 || !(seconds > 0) || double.IsInfinity(seconds)) return;
        Observe(ref _layerOne, _layerRatio, rows, seconds / layers);
    }

    public void ObserveHead(int rows, double seconds)
    {
        if (Frozen) return;
        if (rows < 1 || rows > MaxRows || !(seconds > 0) || double.IsInfinity(seconds)) return;
        Observe(ref _headOne, _headRatio, rows, seconds);
    }

    public void ObserveExitHead(double seconds)
    {
        if (Frozen) return;
        if (seconds > 0 && !double.IsInfinity(seconds)) _exitHead = Median(_exitHead, seconds);
    }

    private static void Observe(ref double one, double[] ratios, int rows, double seconds)
    {
        if (rows == 1)
        {
            one = Median(one, seconds);
            return;
        }
        if (one == 0) return; // no one-row time to relate it to yet
        if (ratios[rows] == 0) ratios[rows] = Ratio(ratios, rows); // start from the extrapolation, not the sample
        ratios[rows] = Median(ratios[rows], seconds / one);
    }

    /// <summary>A running median: a step of <see cref="Step"/> toward the sample; the first sample starts it.</summary>
    private static double Median(double estimate, double sample) =>
        estimate == 0 ? sample
        : sample > estimate ? estimate * (1 + Step)
        : sample < estimate ? estimate * (1 - Step)
        : estimate;

    /// <summary>Seconds per layer of a call of <paramref name="rows"/> rows.</summary>
    public double Layer(int rows) => LayerOne * Ratio(_layerRatio, rows);

    /// <summary>Seconds of the final head over <paramref name="rows"/> rows.</summary>
    public double Head(int rows) => (_headOne > 0 ? _headOne : HeadToLayerPrior * LayerOne) * Ratio(_headRatio, rows);

    private double LayerOne => _layerOne > 0 ? _layerOne : 1e-4;

    /// <summary>Seconds of one exit-head call; <paramref name="prior"/> (in layer reads) until timed.</summary>
    public double ExitHead(double prior) => _exitHead > 0 ? _exitHead : prior * LayerOne;

    /// <summary>What a call of rows + 1 rows adds per layer over rows rows (never negative).</summary>
    public double MarginalLayer(int rows) => Math.Max(0, Layer(rows + 1) - Layer(rows));

    /// <summary>What the final head over rows + 1 rows adds over rows rows (never negative).</summary>
    public double MarginalHead(int rows) => Math.Max(0, Head(rows + 1) - Head(rows));

    /// <summary>One more row through a layer relative to a one-row layer call, at the given batch (rho).</summary>
    public double Rho(int rows) => MarginalLayer(rows) / Layer(1);

    /// <summary>
    /// Cost of n rows relative to one: the measured ratio; an unmeasured size between measured ones on the straight
    /// line between them, above the largest measured one the size below plus the smaller of <see cref="PriorRho"/>
    /// and the measured cost a row so far; never below the size below, never above it plus one.
    /// </summary>
    /// <remarks>
    /// Why interpolate: the bound only times the sizes it lets through, so a size priced from the one below plus a
    /// fixed step stays at that guess until a round of that size happens, and a guess too high is never tested. On
    /// the dev questions (lookup, 2 answers in) 2 and 3 rows were timed while 4-9 rows still cost their +0.3-a-row
    /// guess; a copy priced that way is cut short or not drafted (architecture.md 5).
    /// </remarks>
    private static double Ratio(double[] ratios, int rows)
    {
        rows = Math.Clamp(rows, 1, ratios.Length - 1);
        double value = 1;
        int known = 1;     // the last measured size at or below n (1: the one-row call itself)
        double knownValue = 1;
        for (int n = 2; n <= rows; n++)
        {
            double estimate;
            if (ratios[n] > 0)
            {
                estimate = ratios[n];
            }
            else
            {
                int above = n + 1;
                while (above < ratios.Length && ratios[above] == 0) above++;
                if (above < ratios.Length)
                    estimate = knownValue + (ratios[above] - knownValue) * (n - known) / (above - known);
                else
                    estimate = value + (known > 1 ? Math.Min(PriorRho, (knownValue - 1) / (known - 1)) : PriorRho);
            }
            value = Math.Clamp(estimate, value, value + 1);
            if (ratios[n] > 0) (known, knownValue) = (n, value);
        }
        return value;
    }
}
