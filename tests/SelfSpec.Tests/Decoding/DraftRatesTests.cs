using SelfSpec.Decoding;

namespace SelfSpec.Tests.Decoding;

/// <summary>
/// Acceptance learned across generations (architecture.md 5, the price bound): the rates start at the prior, follow
/// the verdicts, forget old ones, and a new generation's bound plans its lookup copies from them.
/// </summary>
public sealed class DraftRatesTests
{
    private const int Layers = 30;

    /// <summary>A frozen table: a layer 0.1 ms, the head 13.6 layers, each more row 0.3 of a one-row call.</summary>
    private static DecodeCosts Costs() => DecodeCosts.Exactly(1e-4, 13.6e-4, [.. Enumerable.Range(0, 9).Select(n => 1 + 0.3 * n)]);

    [Fact]
    public void RatesStartAtThePriorFollowTheVerdictsAndForgetOldOnes()
    {
        var rates = new DraftRates(Layers);
        Assert.Equal(0.25, rates.Rate(DraftRates.Kind.LookupFirst, 1, 0.25, 4), 12);
        for (int i = 0; i < 200; i++) rates.Add(DraftRates.Kind.LookupFirst, 1, hit: true);
        double learned = rates.Rate(DraftRates.Kind.LookupFirst, 1, 0.25, 4);
        Assert.InRange(learned, 0.97, 1.0);
        // Other counters are untouched.
        Assert.Equal(0.25, rates.Rate(DraftRates.Kind.LookupFirst, 2, 0.25, 4), 12);
        Assert.Equal(0.25, rates.Rate(DraftRates.Kind.StoreFirst, 1, 0.25, 4), 12);
        // A change of workload: recent verdicts outweigh old ones.
        for (int i = 0; i < (int)(2 * DraftRates.Window); i++) rates.Add(DraftRates.Kind.LookupFirst, 1, hit: false);
        Assert.InRange(rates.Rate(DraftRates.Kind.LookupFirst, 1, 0.25, 4), 0.0, 0.2);
        rates.Clear();
        Assert.Equal(0.25, rates.Rate(DraftRates.Kind.LookupFirst, 1, 0.25, 4), 12);
        Assert.Equal(0.0, rates.Trials(DraftRates.Kind.LookupFirst, 1));
    }

    [Fact]
    public void AGenerationPlansLookupCopiesFromWhatEarlierGenerationsMeasured()
    {
        var costs = Costs();
        var rates = new DraftRates(Layers);
        // The prior for a one-token match whose occurrences continued differently (0.15 first, 0.65 follow-on) does
        // not pay at a row costing 0.3 of a pass.
        const MatchAgreement split = MatchAgreement.Split;
        var fresh = new PriceBound(Layers, 0.7f, costs, learned: rates);
        fresh.BeginRound();
        Assert.Equal(0, fresh.PlanLookup(datastore: false, ngram: 1, available: 4, parentDepth: 0, split));
        // An earlier generation's verdicts: one-token matches were accepted, and so were their follow-ons.
        var earlier = new PriceBound(Layers, 0.7f, costs, learned: rates);
        for (int i = 0; i < 100; i++)
        {
            earlier.ObserveLookupDraft(datastore: false, ngram: 1, follows: false, accepted: true, split);
            earlier.ObserveLookupDraft(datastore: false, ngram: 1, follows: true, accepted: true, split);
        }
        var next = new PriceBound(Layers, 0.7f, costs, learned: rates);
        next.BeginRound();
        Assert.Equal(4, next.PlanLookup(datastore: false, ngram: 1, available: 4, parentDepth: 0, split));
        // Without the shared rates a generation starts from the prior again.
        var alone = new PriceBound(Layers, 0.7f, costs);
        alone.BeginRound();
        Assert.Equal(0, alone.PlanLookup(datastore: false, ngram: 1, available: 4, parentDepth: 0, split));
    }

    [Fact]
    public void APlanTakesTheCopyLengthWithTheMostTokensPerSecond()
    {
        var costs = Costs();
        var rates = new DraftRates(Layers);
        // First drafts of 3-token matches accepted, follow-ons rejected: only the first pays.
        var earlier = new PriceBound(Layers, 0.7f, costs, learned: rates);
        for (int i = 0; i < 100; i++)
        {
            earlier.ObserveLookupDraft(datastore: false, ngram: 3, follows: false, accepted: true);
            earlier.ObserveLookupDraft(datastore: false, ngram: 3, follows: true, accepted: false);
        }
        var bound = new PriceBound(Layers, 0.7f, costs, learned: rates);
        bound.BeginRound();
        Assert.Equal(1, bound.PlanLookup(datastore: false, ngram: 3, available: 6, parentDepth: 0));
        // Nothing available, nothing planned.
        Assert.Equal(0, bound.PlanLookup(datastore: false, ngram: 3, available: 0, parentDepth: 0));
    }
}
