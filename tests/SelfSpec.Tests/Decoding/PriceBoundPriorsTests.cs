using SelfSpec.Decoding;

namespace SelfSpec.Tests.Decoding;

/// <summary>
/// What a fresh process's bound does before it has measured anything of its own (architecture.md 5, the price bound):
/// lookup's priors by match length and the cost of unmeasured batch sizes decide its first copies.
/// </summary>
public sealed class PriceBoundPriorsTests
{
    private const int Layers = 30;

    /// <summary>Rows as cheap as the packed kernels make them: an 8-row pass 1.8x one row (0.11 a row).</summary>
    private static DecodeCosts Cheap() => DecodeCosts.Exactly(1e-4, 13.6e-4, [.. Enumerable.Range(0, 9).Select(n => 1 + 0.8 / 7 * n)]);

    [Fact]
    public void AFreshBoundCopiesALongMatchWhole()
    {
        // An 8-token match is accepted ~0.93 of the time and its follow-ons ~0.96: all 8 drafts pay when rows are cheap.
        var bound = new PriceBound(Layers, 0.7f, Cheap());
        bound.BeginRound();
        Assert.Equal(8, bound.PlanLookup(datastore: false, ngram: 8, available: 8, parentDepth: 0));
    }

    [Fact]
    public void AFreshBoundDeclinesTheDatastoresOneTokenMatchesButTakesTheSequences()
    {
        // Another answer's one-token match is right ~0.1 of the time: not worth a row even at 0.11 of a pass; the
        // sequence's own one-token match seen once before (~0.35) is.
        var bound = new PriceBound(Layers, 0.7f, Cheap());
        bound.BeginRound();
        Assert.Equal(0, bound.PlanLookup(datastore: true, ngram: 1, available: 8, parentDepth: 0));
        Assert.True(bound.PlanLookup(datastore: false, ngram: 1, available: 8, parentDepth: 0) >= 1);
    }

    [Fact]
    public void AnUnmeasuredMidSizeIsPricedFromTheMeasuredSizesAroundIt()
    {
        // Only 2 and 8 rows timed (single drafts and long copies): a 4-row copy is priced between them, so a 4-token
        // match's copy is planned as on the full table, not cut short by a guess of 0.3 a row.
        var full = Cheap();
        double[] timed = [.. Enumerable.Range(1, 9).Select(n => n is 1 or 2 or 8 ? full.Layer(n) / full.Layer(1) : 0)]; // 0: not timed
        var sparse = DecodeCosts.Exactly(1e-4, 13.6e-4, timed);
        for (int n = 3; n < 8; n++)
            Assert.Equal(full.Layer(n), sparse.Layer(n), 12);
        var onFull = new PriceBound(Layers, 0.7f, full);
        var onSparse = new PriceBound(Layers, 0.7f, sparse);
        onFull.BeginRound();
        onSparse.BeginRound();
        int planned = onFull.PlanLookup(datastore: false, ngram: 4, available: 8, parentDepth: 0);
        Assert.True(planned >= 3, $"{planned}"); // at 0.3 a row above the 2-row cost: 2
        Assert.Equal(planned, onSparse.PlanLookup(datastore: false, ngram: 4, available: 8, parentDepth: 0));
    }

    [Fact]
    public void AMatchWhoseEarlierOccurrencesAgreedIsCopiedWhereASplitOneIsNot()
    {
        // Rows at 0.4 of a pass: a first draft pays if accepted more than 0.4 of the time. A 2-token match seen several
        // times, always followed by the copied token, is accepted ~0.86 of the time; one whose occurrences continued
        // differently ~0.32 (architecture.md 5).
        var costs = DecodeCosts.Exactly(1e-4, 13.6e-4, [.. Enumerable.Range(0, 9).Select(n => 1 + 0.4 * n)]);
        var bound = new PriceBound(Layers, 0.7f, costs);
        bound.BeginRound();
        Assert.True(bound.PlanLookup(datastore: false, ngram: 2, available: 4, parentDepth: 0, MatchAgreement.Agreed) >= 1);
        Assert.Equal(0, bound.PlanLookup(datastore: false, ngram: 2, available: 4, parentDepth: 0, MatchAgreement.Split));
        Assert.Equal(0, bound.LookupCopyLength(datastore: false, ngram: 2, available: 4, parentDepth: 0, MatchAgreement.Split));
        // Verdicts on agreed matches move only their estimate.
        for (int i = 0; i < 50; i++) bound.ObserveLookupDraft(datastore: false, ngram: 2, follows: false, accepted: false, MatchAgreement.Agreed);
        Assert.Equal(0, bound.PlanLookup(datastore: false, ngram: 2, available: 4, parentDepth: 0, MatchAgreement.Agreed));
        Assert.True(bound.PlanLookup(datastore: false, ngram: 2, available: 4, parentDepth: 0, MatchAgreement.Single) >= 1);
    }
}
