using SelfSpec.Decoding;

namespace SelfSpec.Tests.Decoding;

/// <summary>
/// The price bound in a pass shared with other sequences (continuous batching, architecture.md 4): the round's account
/// is the whole pass's, so a draft joins only when it raises the pass's expected tokens per second, and by the bound's
/// own estimates drafting never lowers a shared pass's aggregate below plain decoding of the same sequences.
/// </summary>
public sealed class PriceBoundUnderLoadTests
{
    private const int Layers = 10;

    /// <summary>
    /// A cost table like the lane-per-row kernels' (architecture.md 3): rows 2..4 share a tile of activation rows and
    /// cost little each, the fifth opens a new tile, the sixth is cheap again. Layer and head alike; frozen.
    /// </summary>
    private static DecodeCosts TiledCosts() => DecodeCosts.Exactly(1e-3, 10e-3, [1, 1.1, 1.2, 1.3, 2.0, 2.3, 2.6, 2.9]);

    [Fact]
    public void TheTableIsTheTiledOne()
    {
        var c = TiledCosts();
        Assert.Equal(2.0, c.Layer(5) / c.Layer(1), 0.1);
        Assert.Equal(0.3, c.MarginalLayer(5) / c.Layer(1), 0.1);
        Assert.Equal(0.7, c.MarginalHead(4) / c.Head(1), 0.1);
    }

    [Fact]
    public void ADraftThatPaysForItsSequenceButNotForThePassIsDeclined()
    {
        // Four others: this sequence's own row is the fifth (it opens a tile, 0.7 of a one-row pass), its draft the
        // sixth (0.3). Against its own row the draft looks cheap (0.6 x 0.7 > 0.3: the rule that priced a draft by the
        // sequence's own share took it); against the pass it does not: the pass commits 5 tokens for 2.0 passes' time,
        // 2.5 a pass, and the draft adds 0.6 (a 3-token match's prior) for 0.3, 2.0 a pass.
        var bound = new PriceBound(Layers, 0.5f, TiledCosts());
        bound.BeginRound(otherRows: 4, otherHeadRows: 4);
        Assert.False(bound.LookupDraftWorthIt(datastore: false, ngram: 3, follows: false, parentDepth: 0));
    }

    [Fact]
    public void ADraftIntoARoomyTileJoins()
    {
        // One other: the pass is 2 rows for 1.1 passes' time (1.8 tokens a pass); a third row adds 0.1 for 0.5 tokens.
        var bound = new PriceBound(Layers, 0.5f, TiledCosts());
        bound.BeginRound(otherRows: 1, otherHeadRows: 1);
        Assert.True(bound.LookupDraftWorthIt(datastore: false, ngram: 3, follows: false, parentDepth: 0));
        // Alone it drafts too (the solo account is unchanged: one token for one pass).
        bound.BeginRound();
        Assert.True(bound.LookupDraftWorthIt(datastore: false, ngram: 3, follows: false, parentDepth: 0));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public void DraftingNeverLowersThePassRateByTheEstimates(int others)
    {
        var costs = TiledCosts();
        for (int ngram = 1; ngram <= 4; ngram++)
        {
            var bound = new PriceBound(Layers, 0.5f, costs);
            bound.BeginRound(others, others);
            // Draft as the batched sequence does: as long as the bound takes the next one, up to the table's size.
            var accepts = new List<double>();
            while (others + 1 + accepts.Count < costs.MaxRows)
            {
                bool follows = accepts.Count > 0;
                if (!bound.LookupDraftWorthIt(false, ngram, follows, 0)) break;
                bound.AddLookupDraft(false, ngram, follows, 0);
                accepts.Add(PriorOf(ngram, follows));
            }
            double plain = (others + 1) / Pass(costs, others + 1);
            double expected = others + 1, all = 1;
            foreach (double p in accepts) expected += all *= p;
            double drafted = expected / Pass(costs, others + 1 + accepts.Count);
            Assert.True(drafted >= plain * (1 - 1e-9), $"others {others}, n-gram {ngram}: {accepts.Count} drafts, {drafted:F2} tokens/s against plain {plain:F2}");
            // Judged whole, as the batched sequence drafts a copy: the same holds for the length the bound plans.
            var whole = new PriceBound(Layers, 0.5f, costs);
            whole.BeginRound(others, others);
            int planned = whole.PlanLookup(false, ngram, costs.MaxRows - others - 1, 0);
            double planExpected = others + 1;
            all = 1;
            for (int j = 0; j < planned; j++) planExpected += all *= PriorOf(ngram, j > 0);
            double planRate = planExpected / Pass(costs, others + 1 + planned);
            Assert.True(planRate >= plain * (1 - 1e-9), $"others {others}, n-gram {ngram}: planned {planned}, {planRate:F2} tokens/s against plain {plain:F2}");
        }
    }

    /// <summary>
    /// The staircase of the real kernels (architecture.md 3): tiles of <see cref="DecodeCosts.TileRows"/> activation
    /// rows, a row inside a tile 0.15 of a one-row call, a row that opens one 0.9; timed at 1..17 rows; frozen.
    /// </summary>
    private static DecodeCosts StaircaseCosts()
    {
        int rows = 2 * DecodeCosts.TileRows + 1;
        var c = new DecodeCosts(rows);
        var ratio = new double[rows + 1];
        for (int n = 1; n <= rows; n++) ratio[n] = n == 1 ? 1 : ratio[n - 1] + (n % DecodeCosts.TileRows == 1 ? 0.9 : 0.15);
        c.ObserveForward(1, Layers, Layers * 1e-3);
        c.ObserveHead(1, 10e-3);
        for (int i = 0; i < 400; i++)
            for (int n = 2; n <= rows; n++)
            {
                c.ObserveForward(n, Layers, Layers * 1e-3 * ratio[n]);
                c.ObserveHead(n, 10e-3 * ratio[n]);
            }
        c.Frozen = true;
        return c;
    }

    [Fact]
    public void ADraftThatOpensATileJoinsOnlyWhenNearlySure()
    {
        var costs = StaircaseCosts();
        Assert.Equal(0.9, costs.MarginalLayer(8) / costs.Layer(1), 0.2);
        // Seven rows of a joining sequence's prompt (no logits) fill a tile with this sequence's row; its draft would be
        // the ninth row. The pass commits one token for 8 rows' time (2.05 one-row calls of layers, one head row); the
        // draft adds 0.9 of the layers and a head row (0.15): it pays only if accepted more than ~0.34 of the time.
        var low = new PriceBound(Layers, 0.5f, costs);
        low.BeginRound(otherRows: 7, otherHeadRows: 0, otherSequences: 1);
        const MatchAgreement split = MatchAgreement.Split;
        Assert.False(low.LookupDraftWorthIt(datastore: false, ngram: 1, follows: false, parentDepth: 0, split)); // prior 0.15

        var rates = new DraftRates(Layers);
        for (int i = 0; i < 200; i++) rates.Add(DraftRates.Kind.LookupFirst, DraftRates.LookupFirstIndex(1, split), hit: true);
        var high = new PriceBound(Layers, 0.5f, costs, learned: rates);
        high.BeginRound(otherRows: 7, otherHeadRows: 0, otherSequences: 1);
        Assert.True(high.LookupDraftWorthIt(datastore: false, ngram: 1, follows: false, parentDepth: 0, split));

        // Seven decoding sequences instead: the pass commits eight tokens, so even a sure draft (one more token for
        // 0.44 of the pass) is declined. This is the 8-client case that fell to 0.87 of ar.
        high.BeginRound(otherRows: 7, otherHeadRows: 7, otherSequences: 7);
        Assert.False(high.LookupDraftWorthIt(datastore: false, ngram: 1, follows: false, parentDepth: 0, split));
    }

    [Fact]
    public void ADeclinedSourceIsExploredOncePerIntervalOfThePass()
    {
        // Eight sequences: each explores a declined lookup once per 8 x 64 of its rounds, so the pass does once per 64.
        var bound = new PriceBound(Layers, 0.5f, StaircaseCosts());
        int explored = 0;
        for (int round = 1; round <= 8 * PriceBound.ExploreInterval; round++)
        {
            bound.Round = round;
            bound.BeginRound(otherRows: 7, otherHeadRows: 7, otherSequences: 7);
            if (bound.LookupDraftWorthIt(datastore: false, ngram: 1, follows: false, parentDepth: 0)) explored++;
        }
        Assert.Equal(1, explored);
        // Alone (the same pass's account), once per 64 rounds.
        bound = new PriceBound(Layers, 0.5f, StaircaseCosts());
        explored = 0;
        for (int round = 1; round <= 8 * PriceBound.ExploreInterval; round++)
        {
            bound.Round = round;
            bound.BeginRound(otherRows: 7, otherHeadRows: 7);
            if (bound.LookupDraftWorthIt(datastore: false, ngram: 1, follows: false, parentDepth: 0)) explored++;
        }
        Assert.Equal(8, explored);
    }

    /// <summary>A pass of n rows, every row with logits.</summary>
    private static double Pass(DecodeCosts c, int rows) => Layers * c.Layer(rows) + c.Head(rows);

    /// <summary>The bound's lookup priors (a sequence's own text) before any observation.</summary>
    private static double PriorOf(int ngram, bool follows) => follows ? PriceBound.LookupNextPrior(ngram) : PriceBound.LookupFirstPrior(ngram);
}
