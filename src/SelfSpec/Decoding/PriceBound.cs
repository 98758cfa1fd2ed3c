namespace SelfSpec.Decoding;

/// <summary>
/// The bound that knows the price. Keeps running estimates, updated from every verification,
/// of how often drafts from each source are accepted (each exit layer; prompt lookup by n-gram length, first and
/// follow-on drafts apart, first drafts also by how the match's earlier occurrences continue) and how often a candidate exit fires; and the timed costs of <see cref="DecodeCosts"/>
/// (per layer and head call, by batch size, kept across generations). A round's expected committed tokens E = 1 +
/// sum of the probabilities that drafts 1..i are all accepted; its expected cost C = the plain step plus what each
/// draft (one more row in the round's calls, at the round's current size) and exit-head call adds. One more step is
/// taken only if its gain per second beats the round's: dE / dC &gt; E / C.
/// </summary>
internal sealed class PriceBound
{
    // Priors measured on SmolLM2-135M: own-head agreement by relative depth; lookup commits ~2.2 tokens a pass.
    private static readonly (double Fraction, double Agreement)[] OwnHeadAgreement =
        [(0.1, 0.049), (0.2, 0.049), (0.3, 0.057), (0.4, 0.075), (0.5, 0.094), (0.6, 0.121), (0.67, 0.187), (0.73, 0.26), (0.8, 0.378), (0.87, 0.438), (0.93, 0.554), (0.97, 0.622), (1.0, 0.7)];
    private const double PriorWeight = 4;
    /// <summary>A source the bound has declined is tried anyway once per this many rounds, so estimates can recover.</summary>
    public const int ExploreInterval = 64;

    private readonly int _layers;
    private readonly Estimate[] _exitFires, _exitAccepts;   // by exit layer
    private readonly Estimate[] _lookupFirst;               // by DraftRates.LookupFirstIndex(n-gram length, agreement)
    private readonly Estimate[] _lookupNext;                // by n-gram length
    private readonly Estimate[] _storeFirst, _storeNext;    // datastore copies, by n-gram length
    private int _lastExitExplore, _lastLookupExplore;

    private readonly DecodeCosts _costs;
    private readonly DraftRates? _learned;
    // An exit check's head (the full head, or a calibrated draft head) in layer reads, until timed.
    private readonly double _exitHeadPrior;

    /// <param name="costs">the model's timed costs (shared by its generations; the decoding loop records into them)</param>
    /// <param name="priors">calibrated per-layer rates (replace the own-head priors at those layers), or null</param>
    /// <param name="learned">
    /// acceptance rates learned over the model's earlier generations (the starting estimates blend them with the
    /// priors, and this bound's verdicts are added to them), or null for the priors alone
    /// </param>
    public PriceBound(int layers, float tau, DecodeCosts costs, ExitPriors? priors = null, DraftRates? learned = null)
    {
        _layers = layers;
        _costs = costs;
        _learned = learned;
        _exitFires = new Estimate[layers + 1];
        _exitAccepts = new Estimate[layers + 1];
        for (int l = 0; l <= layers; l++)
        {
            double agreement = Interpolate((double)l / layers);
            // Confident exits are right more often than exits on average; how much is unknown until measured.
            double accept = Math.Min(0.9, 1.5 * agreement), fire = Math.Clamp(1 - tau, 0.05, 0.9);
            if (priors != null && priors.TryGet(l, out double a, out double f))
                (accept, fire) = (Math.Clamp(a, 0.01, 0.99), Math.Clamp(f, 0.01, 0.99));
            _exitAccepts[l] = Start(DraftRates.Kind.ExitAccept, l, accept);
            _exitFires[l] = Start(DraftRates.Kind.ExitFire, l, fire);
        }
        _exitHeadPrior = priors?.HeadCostInLayers ?? costs.HeadToLayerPrior;
        _lookupFirst = new Estimate[DraftRates.LookupFirstIndex(DraftRates.MaxNgram, MatchAgreement.Split) + 1];
        _lookupNext = new Estimate[DraftRates.MaxNgram + 1];
        _storeFirst = new Estimate[DraftRates.MaxNgram + 1];
        _storeNext = new Estimate[DraftRates.MaxNgram + 1];
        for (int n = 0; n <= DraftRates.MaxNgram; n++)
        {
            foreach (var agreement in Enum.GetValues<MatchAgreement>())
            {
                int i = DraftRates.LookupFirstIndex(n, agreement);
                _lookupFirst[i] = Start(DraftRates.Kind.LookupFirst, i, LookupFirstPrior(n, agreement));
            }
            _lookupNext[n] = Start(DraftRates.Kind.LookupNext, n, LookupNextPrior(n));
            _storeFirst[n] = Start(DraftRates.Kind.StoreFirst, n, StoreFirstPrior(n));
            _storeNext[n] = Start(DraftRates.Kind.StoreNext, n, StoreNextPrior(n));
        }
    }

    // Lookup's priors by match length, rounded down from what greedy SmolLM2-135M answers measured (21 Spec-Bench dev
    // questions of every task, 256 tokens, each position's longest match; the datastore: the answers before it):
    // first drafts of the sequence's own text 0.25 / 0.54 / 0.62 / 0.73-0.81 / 0.93 at 1 / 2 / 3 / 4-7 / 8 tokens,
    // follow-ons 0.67 / 0.73-0.81 / 0.96; the datastore's first drafts 0.11 / 0.25 / 0.21 / 0.21 at 1-4 tokens
    // (other answers match more often than they continue alike), follow-ons 0.29-0.50. They decide a fresh
    // process's first drafts (a long copy is priced by them whole), until its own verdicts outweigh them.
    // First drafts of the sequence's own text by agreement (MatchAgreement; 40 other dev questions, 4721 positions):
    // a match seen once 0.36 / 0.58 / 0.66 / 0.69-0.79 / 0.88, agreed 0.67 / 0.86 / 0.86 / 0.76-0.91 / 0.98, split
    // 0.19 / 0.32 / 0.38 / 0.35-0.43 / 0.57 at 1 / 2 / 3 / 4-7 / 8 tokens.
    internal static double LookupFirstPrior(int n, MatchAgreement agreement = MatchAgreement.Single) => agreement switch
    {
        MatchAgreement.Agreed => n <= 1 ? 0.65 : n < DraftRates.MaxNgram ? 0.8 : 0.95,
        MatchAgreement.Split => n <= 1 ? 0.15 : n == 2 ? 0.3 : n < DraftRates.MaxNgram ? 0.35 : 0.55,
        _ => n <= 1 ? 0.35 : n == 2 ? 0.55 : n == 3 ? 0.65 : n < DraftRates.MaxNgram ? 0.7 : 0.85,
    };
    internal static double LookupNextPrior(int n) => n <= 1 ? 0.65 : n < DraftRates.MaxNgram ? 0.75 : 0.95;
    internal static double StoreFirstPrior(int n) => n <= 1 ? 0.1 : n <= 4 ? 0.2 : 0.5;
    internal static double StoreNextPrior(int n) => n <= 2 ? 0.3 : n <= 4 ? 0.45 : 0.5;

    /// <summary>A generation's starting estimate: the prior, moved toward what earlier generations measured.</summary>
    private Estimate Start(DraftRates.Kind kind, int index, double prior) =>
        new(_learned?.Rate(kind, index, prior, PriorWeight) ?? prior);

    public int Round { get; set; }

    // ---- acceptance measurements (the decoding loop records timings in DecodeCosts itself) ----

    public void ObserveExitCheck(int layer, bool fired)
    {
        _exitFires[layer].Add(fired);
        _learned?.Add(DraftRates.Kind.ExitFire, layer, fired);
    }

    public void ObserveExitDraft(int layer, bool accepted)
    {
        _exitAccepts[layer].Add(accepted);
        _learned?.Add(DraftRates.Kind.ExitAccept, layer, accepted);
    }

    public void ObserveLookupDraft(bool datastore, int ngram, bool follows, bool accepted, MatchAgreement agreement = MatchAgreement.Single)
    {
        int i = LookupIndex(datastore, ngram, follows, agreement);
        LookupEstimates(datastore, follows)[i].Add(accepted);
        _learned?.Add(datastore ? (follows ? DraftRates.Kind.StoreNext : DraftRates.Kind.StoreFirst)
            : (follows ? DraftRates.Kind.LookupNext : DraftRates.Kind.LookupFirst), i, accepted);
    }

    private Estimate[] LookupEstimates(bool datastore, bool follows) =>
        datastore ? (follows ? _storeNext : _storeFirst) : (follows ? _lookupNext : _lookupFirst);

    /// <summary>The estimate's index: the match length, and for the sequence's own first drafts the agreement too.</summary>
    private static int LookupIndex(bool datastore, int ngram, bool follows, MatchAgreement agreement)
    {
        int n = Math.Min(ngram, DraftRates.MaxNgram);
        return datastore || follows ? n : DraftRates.LookupFirstIndex(n, agreement);
    }

    private double LookupAcceptance(bool datastore, int ngram, bool follows, MatchAgreement agreement) =>
        LookupEstimates(datastore, follows)[LookupIndex(datastore, ngram, follows, agreement)].Mean;

    // ---- the round's running account ----

    private double _expected, _probAllAccepted, _cost;
    private int _rows, _otherRows, _otherHeadRows;
    private int _exploreInterval = ExploreInterval;

    /// <summary>
    /// Starts a round: a plain step commits one token for a full pass and a head call. Under continuous batching
    /// other sequences' rows share the pass (<paramref name="otherRows"/> through the layers, <paramref name="otherHeadRows"/>
    /// through the head) and the round's account is the whole pass's: its cost is the pass's (every row through the
    /// layers, every logits row through the head), its expected tokens one for this sequence plus one for each other
    /// logits row (an upper bound: others' drafts are not all accepted, which only makes drafting rarer). A draft then
    /// joins only if the tokens per second it adds beat the pass's own, so by the estimates drafting never lowers the
    /// pass's aggregate below plain decoding of the same sequences; and its row is priced at the marginal cost of a
    /// row at the pass's size, so drafts get dearer as the pass fills (architecture.md 4). Pricing a draft against
    /// this sequence's own share of the pass instead (its marginal row) let drafts through that paid for their
    /// sequence but cost the pass more than they gave it: hybrid fell ~1 % below ar at 2, 4 and 8 clients.
    /// </summary>
    /// <param name="otherSequences">
    /// how many other sequences share the pass: a declined source is explored once per <see cref="ExploreInterval"/>
    /// rounds of the pass, not of each sequence (the rates are the model's, so one sequence's exploration serves all;
    /// eight sequences each exploring at the solo rate put a draft that opened a tile into one pass in eight)
    /// </param>
    public void BeginRound(int otherRows = 0, int otherHeadRows = 0, int otherSequences = 0)
    {
        _exploreInterval = ExploreInterval * (1 + Math.Max(0, otherSequences));
        _expected = 1 + otherHeadRows;
        _probAllAccepted = 1;
        _rows = 1;
        _otherRows = otherRows;
        _otherHeadRows = otherHeadRows;
        _cost = _layers * _costs.Layer(otherRows + 1) + _costs.Head(otherHeadRows + 1);
        _cost = Math.Max(_cost, 1e-12); // a row measured as free: a free draft still pays
    }

    /// <summary>
    /// What one more row adds to the round when it starts below a row at depth <paramref name="parentDepth"/>: it
    /// runs alone up to there (an exit draft's catch-up), then rides along in the round's calls and final head.
    /// </summary>
    private double RowCost(int parentDepth) => RowCost(parentDepth, _rows);

    /// <summary>What one more row adds to a round of <paramref name="rows"/> rows (see <see cref="RowCost(int)"/>).</summary>
    private double RowCost(int parentDepth, int rows) =>
        parentDepth * _costs.Layer(1) + (_layers - parentDepth) * _costs.MarginalLayer(_otherRows + rows) + _costs.MarginalHead(_otherHeadRows + rows);

    /// <summary>An exit check's head in layer reads until timed.</summary>
    public double ExitHeadPrior => _exitHeadPrior;

    private double ExitHeadCost => _costs.ExitHead(_exitHeadPrior);

    private bool Worth(double gain, double cost) => gain * _cost > _expected * cost;

    /// <summary>Whether checking the exit head at <paramref name="layer"/> for the newest row pays.</summary>
    public bool ExitCheckWorthIt(int layer)
    {
        double fire = _exitFires[layer].Mean, accept = _exitAccepts[layer].Mean;
        return Worth(_probAllAccepted * fire * accept, ExitHeadCost + fire * RowCost(layer)) || Explore(ref _lastExitExplore);
    }

    /// <summary>
    /// Whether a lookup draft (from the sequence or the datastore, n-gram <paramref name="ngram"/>, first of its copy or
    /// a follow-on) below a row at <paramref name="parentDepth"/> pays.
    /// </summary>
    public bool LookupDraftWorthIt(bool datastore, int ngram, bool follows, int parentDepth, MatchAgreement agreement = MatchAgreement.Single)
    {
        double accept = LookupAcceptance(datastore, ngram, follows, agreement);
        return Worth(_probAllAccepted * accept, RowCost(parentDepth)) || (!follows && Explore(ref _lastLookupExplore));
    }

    /// <summary>
    /// The drafts to take of a lookup copy of <paramref name="available"/> tokens: <see cref="PlanLookup"/>'s length,
    /// else its first draft alone when that pays by itself (or is explored); 0 declines the copy. Both the plain loop's
    /// lookup and a batched sequence decide by this.
    /// </summary>
    public int LookupCopyLength(bool datastore, int ngram, int available, int parentDepth, MatchAgreement agreement = MatchAgreement.Single)
    {
        int planned = PlanLookup(datastore, ngram, available, parentDepth, agreement);
        return planned == 0 && LookupDraftWorthIt(datastore, ngram, follows: false, parentDepth, agreement) ? 1 : planned;
    }

    /// <summary>
    /// How many tokens of a copy to draft (0: none): of the first 1..<paramref name="available"/>, the count that gives
    /// the round the most expected committed tokens per second, E / C, if that beats the round without them. The copy
    /// is judged whole, not draft by draft: a first draft from a short match may not pay alone, yet pay with the
    /// follow-ons a copy's accepted first draft makes likely (their acceptance is measured apart, per match length).
    /// The first draft is added below a row at <paramref name="parentDepth"/>; its follow-ons below fresh rows.
    /// </summary>
    public int PlanLookup(bool datastore, int ngram, int available, int parentDepth, MatchAgreement agreement = MatchAgreement.Single)
    {
        double first = LookupAcceptance(datastore, ngram, follows: false, agreement), next = LookupAcceptance(datastore, ngram, follows: true, agreement);
        double expected = _expected, cost = _cost, all = _probAllAccepted, best = _expected / _cost;
        int take = 0;
        for (int j = 1; j <= available; j++)
        {
            all *= j == 1 ? first : next;
            expected += all;
            cost += RowCost(j == 1 ? parentDepth : 0, _rows + j - 1);
            if (expected / cost > best)
            {
                best = expected / cost;
                take = j;
            }
        }
        return take;
    }

    /// <summary>Whether a static-method draft through <paramref name="layer"/> (always exits) pays.</summary>
    public bool StaticDraftWorthIt(int layer)
    {
        double accept = _exitAccepts[layer].Mean;
        return Worth(_probAllAccepted * accept, ExitHeadCost + RowCost(layer)) || Explore(ref _lastExitExplore);
    }

    /// <summary>
    /// At most one declined check a source kind per <see cref="ExploreInterval"/> rounds (of the pass, see
    /// <see cref="BeginRound"/>), so estimates can recover.
    /// </summary>
    private bool Explore(ref int lastRound)
    {
        if (Round - lastRound < _exploreInterval) return false;
        lastRound = Round;
        return true;
    }

    public void ChargeExitCheck() => _cost += ExitHeadCost;

    public void AddExitDraft(int layer) => AddDraft(_exitAccepts[layer].Mean, RowCost(layer));

    public void AddLookupDraft(bool datastore, int ngram, bool follows, int parentDepth, MatchAgreement agreement = MatchAgreement.Single) =>
        AddDraft(LookupAcceptance(datastore, ngram, follows, agreement), RowCost(parentDepth));

    private void AddDraft(double accept, double cost)
    {
        _probAllAccepted *= accept;
        _expected += _probAllAccepted;
        _cost += cost;
        _rows++;
    }

    /// <summary>Acceptance estimate of drafts exiting at <paramref name="layer"/> (for reports).</summary>
    public double ExitAcceptance(int layer) => _exitAccepts[layer].Mean;

    private static double Interpolate(double fraction)
    {
        var t = OwnHeadAgreement;
        if (fraction <= t[0].Fraction) return t[0].Agreement;
        for (int i = 1; i < t.Length; i++)
        {
            if (fraction > t[i].Fraction) continue;
            double w = (fraction - t[i - 1].Fraction) / (t[i].Fraction - t[i - 1].Fraction);
            return t[i - 1].Agreement + w * (t[i].Agreement - t[i - 1].Agreement);
        }
        return t[^1].Agreement;
    }

    /// <summary>A rate with a prior worth <see cref="PriorWeight"/> observations.</summary>
    private struct Estimate(double prior)
    {
        private double _hits = prior * PriorWeight, _trials = PriorWeight;
        public readonly double Mean => _hits / _trials;
        public void Add(bool hit)
        {
            _hits += hit ? 1 : 0;
            _trials += 1;
        }
    }
}

/// <summary>
/// Calibrated starting estimates for the bound (from a sidecar): per exit layer, how often a fired exit's draft is
/// accepted and how often the exit fires at the calibrated tau; and the exit head's cost in layer reads.
/// </summary>
internal sealed class ExitPriors(IReadOnlyDictionary<int, (double Accept, double Fire)> rates, double headCostInLayers)
{
    public double HeadCostInLayers => headCostInLayers;

    public IReadOnlyDictionary<int, (double Accept, double Fire)> Rates => rates;

    public bool TryGet(int layer, out double accept, out double fire)
    {
        bool found = rates.TryGetValue(layer, out var r);
        (accept, fire) = r;
        return found;
    }
}
