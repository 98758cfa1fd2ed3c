using SelfSpec.Decoding;
using SelfSpec.Quantization;
using SelfSpec.Sampling;
using SelfSpec.Tests.Model;
using SelfSpec.Tests.Sampling;
using Xunit.Abstractions;

namespace SelfSpec.Tests.Decoding;

/// <summary>
/// architecture.md 2.2: with temperature &gt; 0, the joint distribution of the first generated tokens under speculative
/// sampling equals the model's, computed exactly by enumeration. Top-k 3 keeps the enumeration small (27 outcomes
/// for 3 tokens); forced drafting (every exit fires, lookup on any match) makes the 2nd and 3rd tokens come from
/// drafts that are often rejected. The same test must fail for a wrong acceptance rule.
/// </summary>
public sealed class LosslessSamplingTests(ITestOutputHelper output) : IDisposable
{
    private const int Runs = 3000;
    private readonly string _dir = TinyModels.TempDirectory();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly SamplingOptions Sampling = new() { Temperature = 1.3f, TopK = 3 };
    // The prompt repeats, so prompt lookup drafts too (hybrid).
    private static readonly int[] Prompt = [70, 71, 72, 73, 70, 71, 72, 73, 70, 71];

    [Theory]
    [InlineData(DecodingMethod.SpecBound)]
    [InlineData(DecodingMethod.Hybrid)]
    [InlineData(DecodingMethod.Static)]
    public void FirstTokensFollowTheModelsDistribution(DecodingMethod method)
    {
        using var h = Model();
        var (statistic, critical) = ChiSquare(h, method, AcceptanceRule.Speculative);
        output.WriteLine($"{method}: chi-square {statistic:F1}, critical {critical:F1}");
        Assert.True(statistic < critical, $"{method}: chi-square {statistic:F1} >= critical {critical:F1}");
    }

    [Theory]
    [InlineData(DecodingMethod.SpecBound)]
    [InlineData(DecodingMethod.Hybrid)]
    public void AWrongAcceptanceRuleIsCaught(DecodingMethod method)
    {
        using var h = Model();
        var (statistic, critical) = ChiSquare(h, method, AcceptanceRule.AlwaysAccept);
        Assert.True(statistic > critical, $"{method}: always-accept passed (chi-square {statistic:F1} < {critical:F1})");
    }

    /// <summary>
    /// The power of the test itself: a rule that stays inside the model's support (so no outcome scores infinity),
    /// resampling rejections from p instead of norm(max(0, p - q)), must still give a finite statistic above the
    /// critical value at <see cref="Runs"/> runs.
    /// </summary>
    [Theory]
    [InlineData(DecodingMethod.SpecBound)]
    [InlineData(DecodingMethod.Hybrid)]
    public void AWrongResidualInsideTheSupportIsCaught(DecodingMethod method)
    {
        using var h = Model();
        var (statistic, critical) = ChiSquare(h, method, AcceptanceRule.ResampleFromP);
        output.WriteLine($"{method} resampling from p: chi-square {statistic:F1}, critical {critical:F1}");
        Assert.True(double.IsFinite(statistic), $"{method}: resampling from p produced an outcome outside the model's support");
        Assert.True(statistic > critical, $"{method}: resampling from p passed (chi-square {statistic:F1} <= {critical:F1})");
    }

    /// <summary>
    /// The datastore as a draft source: a prompt that does not repeat (so prompt lookup finds nothing) and a store
    /// holding, after each possible first token, the greedy continuation: the second token is drafted from the store
    /// in every run, and accepted or rejected.
    /// </summary>
    [Theory]
    [InlineData(DecodingMethod.Lookup)]
    [InlineData(DecodingMethod.Hybrid)]
    public void FirstTokensFollowTheModelsDistributionWithTheDatastore(DecodingMethod method)
    {
        using var h = Model();
        var (statistic, critical, stored) = ChiSquare(h, method, AcceptanceRule.Speculative, Plain, Store(h));
        output.WriteLine($"{method} with the datastore: chi-square {statistic:F1}, critical {critical:F1}, {stored} datastore drafts");
        Assert.True(stored > Runs * 9 / 10, $"{method}: only {stored} datastore drafts in {Runs} runs");
        Assert.True(statistic < critical, $"{method}: chi-square {statistic:F1} >= critical {critical:F1}");
    }

    [Theory]
    [InlineData(DecodingMethod.Lookup)]
    [InlineData(DecodingMethod.Hybrid)]
    public void AWrongResidualWithTheDatastoreIsCaught(DecodingMethod method)
    {
        using var h = Model();
        var (statistic, critical, _) = ChiSquare(h, method, AcceptanceRule.ResampleFromP, Plain, Store(h));
        Assert.True(statistic > critical, $"{method}: resampling from p passed with the datastore (chi-square {statistic:F1} <= {critical:F1})");
    }

    private static readonly int[] Plain = [70, 71, 72, 73, 74, 75];

    private static TokenStore[] Store(ModelHarness h)
    {
        var sampler = new Sampler(Sampling, h.Config.VocabSize);
        var generations = Support(h, sampler, Plain).Select(first =>
        {
            int[] context = [.. Plain, first.Token];
            return (int[])[.. context[^3..], .. DecodingHarness.Run(h, DecodingMethod.Autoregressive, context, 2, isEnd: _ => false).OutputTokens];
        });
        return [new TokenStore(TokenStore.Join(generations), h.Config.VocabSize)];
    }

    private ModelHarness Model() => new(TinyModels.Write(_dir, GgmlType.Q8_0, seed: 4, new TinyModels.Shape(Layers: 3)), threads: 1);

    private static (double Statistic, double Critical) ChiSquare(ModelHarness h, DecodingMethod method, AcceptanceRule rule)
    {
        var (statistic, critical, _) = ChiSquare(h, method, rule, Prompt, null);
        return (statistic, critical);
    }

    private static (double Statistic, double Critical, int Stored) ChiSquare(ModelHarness h, DecodingMethod method, AcceptanceRule rule,
        int[] prompt, TokenStore[]? store)
    {
        var exact = Exact(h, prompt);
        int stored = 0;
        var spec = DecodingHarness.Forced with { MaxDrafts = 3, Acceptance = rule };
        var counts = new Dictionary<(int, int, int), int>();
        for (int run = 0; run < Runs; run++)
        {
            var r = DecodingHarness.Run(h, method, prompt, 3, spec, Sampling with { Seed = (ulong)(1000 + run) }, isEnd: _ => false, datastore: store);
            stored += r.Stats.DraftedBySource.GetValueOrDefault("datastore");
            Assert.Equal(3, r.OutputTokens.Length);
            var key = (r.OutputTokens[0], r.OutputTokens[1], r.OutputTokens[2]);
            counts[key] = counts.GetValueOrDefault(key) + 1;
        }
        var (statistic, critical) = GoodnessOfFit.ChiSquare(exact, counts, Runs);
        return (statistic, critical, stored);
    }

    /// <summary>P(t1, t2, t3) by enumeration with the full model and the sampler's exact distribution.</summary>
    private static Dictionary<(int, int, int), double> Exact(ModelHarness h, int[] prompt)
    {
        var sampler = new Sampler(Sampling, h.Config.VocabSize);
        var result = new Dictionary<(int, int, int), double>();
        foreach (var (t1, p1) in Support(h, sampler, prompt))
            foreach (var (t2, p2) in Support(h, sampler, [.. prompt, t1]))
                foreach (var (t3, p3) in Support(h, sampler, [.. prompt, t1, t2]))
                    result[(t1, t2, t3)] = p1 * p2 * p3;
        return result;
    }

    private static IEnumerable<(int Token, double P)> Support(ModelHarness h, Sampler sampler, int[] tokens)
    {
        var probs = new float[h.Config.VocabSize];
        sampler.Distribution(DecodingHarness.LastLogits(h, tokens), tokens, probs);
        for (int t = 0; t < probs.Length; t++)
            if (probs[t] > 0) yield return (t, probs[t]);
    }
}
