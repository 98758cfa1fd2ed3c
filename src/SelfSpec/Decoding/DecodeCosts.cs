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
/// its estimate from the sizes around it (between two measured sizes of one tile on the line between them, else as
/// below), not at its first
/// sample: a first sample too high would make drafts look too dear, the bound would stop drafting, and with it
/// the samples that could correct it (seen on the bench: a first 2-row head timed at 3.4 ms against 1.3 for one
/// row kept lookup to 25 drafts in 12 prompts); an estimate too low corrects itself, since the drafts it allows
/// are timed. Costs never decrease with size, and n rows never cost more than n - 1 rows plus a call of one.
///
/// The kernels work in tiles of <see cref="TileRows"/> activation rows (architecture.md 3), so cost is a staircase:
/// a row that opens a tile costs several times one that fills it. So an untimed size that opens a tile starts at a
/// whole one-row call more than the size below (the most the table allows), not at <see cref="PriorRho"/>: a draft
/// there is declined until timed (the bound explores now and then, which times it); and an untimed size with a timed
/// size a tile below adds what that one added (the staircase repeats). Every size is related to the one-row times,
/// and under continuous batching a one-row call may not come for long (eight sequences decode in passes of eight rows
/// or more): the model's warm-up times one after compiling, and a table that has none (tests, warm-up off) takes its
/// scale from its first sample of at most a tile and the extrapolated shape. Before, the warm-up left the table
/// empty, every larger sample was dropped, and a draft that opened a second tile was priced at 0.3 of a row when it
/// cost about a third of the pass: hybrid fell to 0.87 of ar at 8 clients.
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
    /// <summary>Activation rows a kernel tile holds (architecture.md 3): sizes past the timed ones repeat its steps.</summary>
    public const int TileRows = 8;

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
        if (one == 0)
        {
            // No one-row time yet (and perhaps never: see the class comment): the scale from a decoding-sized sample
            // (at most a tile, where the prior's shape is closest) and the shape as it stands; the size's own ratio
            // then starts from that shape, as an unmeasured size does. A prefill chunk's sample is dropped: priced by
            // the prior's shape over many tiles it would put the scale far off, and every ratio with it.
            if (rows <= TileRows) one = seconds / Ratio(ratios, rows);
            return;
        }
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
    /// Cost of n rows relative to one: the measured ratio; an unmeasured size with a measured one above it in its
    /// tile on the straight line from the last measured size below to it; else the size below plus what the row a
    /// tile earlier added when that is known (the staircase repeats tile by tile), else plus one for a row that opens a
    /// tile (a whole call, until timed), else plus the smaller of <see cref="PriorRho"/> and the measured cost a row so
    /// far; never below the size below, never above it plus one.
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
        Span<double> value = stackalloc double[rows + 1];
        Span<bool> known = stackalloc bool[rows + 1]; // measured, or repeating a known step a tile earlier
        value[1] = 1;
        int anchor = 1; // the last measured size below n (1: the one-row call itself)
        for (int n = 2; n <= rows; n++)
        {
            double below = value[n - 1], estimate;
            int above = MeasuredAboveInTile(ratios, n);
            if (ratios[n] > 0) (estimate, known[n]) = (ratios[n], true);
            else if (above > 0) estimate = value[anchor] + (ratios[above] - value[anchor]) * (n - anchor) / (above - anchor);
            else if (n > TileRows + 1 && known[n - TileRows]) (estimate, known[n]) = (below + value[n - TileRows] - value[n - TileRows - 1], true);
            else if (n % TileRows == 1) estimate = below + 1;
            else estimate = below + (anchor > 1 ? Math.Min(PriorRho, (value[anchor] - 1) / (anchor - 1)) : PriorRho);
            value[n] = Math.Clamp(estimate, below, below + 1);
            if (ratios[n] > 0) anchor = n;
        }
        return value[rows];
    }

    /// <summary>The nearest measured size above n in n's tile of activation rows, or 0: a line drawn across a tile's
    /// edge would spread the step of the row that opens the next tile over the rows before it.</summary>
    private static int MeasuredAboveInTile(double[] ratios, int n)
    {
        int tileEnd = Math.Min(ratios.Length - 1, ((n - 1) / TileRows + 1) * TileRows);
        for (int a = n + 1; a <= tileEnd; a++)
            if (ratios[a] > 0) return a;
        return 0;
    }
}
