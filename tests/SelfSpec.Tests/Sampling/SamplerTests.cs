using SelfSpec.Sampling;

namespace SelfSpec.Tests.Sampling;

/// <summary>Samplers on tiny vectors whose right answers can be worked out by hand (llama.cpp's test style).</summary>
public sealed class SamplerTests
{
    private static float[] LogitsOf(params double[] probs) => probs.Select(p => (float)Math.Log(p)).ToArray();

    private static float[] Dist(SamplingOptions o, float[] logits, int[]? history = null)
    {
        var s = new Sampler(o, logits.Length);
        var probs = new float[logits.Length];
        s.Distribution(logits, history ?? [], probs);
        return probs;
    }

    [Fact]
    public void GreedyPicksTheLargestAndTheLowestIdOnTies()
    {
        var s = new Sampler(SamplingOptions.Greedy, 5);
        Assert.Equal(3, s.Sample([0f, 1f, 2f, 5f, 4f], []));
        Assert.Equal(1, s.Sample([0f, 5f, 2f, 5f, 4f], []));
    }

    [Fact]
    public void TemperatureOneReproducesTheModelDistribution()
    {
        var p = Dist(new SamplingOptions { Temperature = 1f }, LogitsOf(0.1, 0.2, 0.3, 0.4));
        Assert.Equal([0.1f, 0.2f, 0.3f, 0.4f], p.Select(x => MathF.Round(x, 5)));
    }

    [Fact]
    public void TopKKeepsTheKMostLikely()
    {
        var p = Dist(new SamplingOptions { Temperature = 1f, TopK = 2 }, LogitsOf(0.1, 0.2, 0.3, 0.4));
        Assert.Equal([0f, 0f, 0.3f / 0.7f, 0.4f / 0.7f], p.Select(x => MathF.Round(x, 5)), new RoundedComparer());
    }

    [Fact]
    public void TopPKeepsTheSmallestSetReachingP()
    {
        // Sorted: 0.4, 0.3 (cumulative 0.7 >= 0.6): keep two.
        var p = Dist(new SamplingOptions { Temperature = 1f, TopP = 0.6f }, LogitsOf(0.1, 0.2, 0.3, 0.4));
        Assert.Equal([0f, 0f, 0.3f / 0.7f, 0.4f / 0.7f], p, new RoundedComparer());
        // 0.75 needs a third token.
        p = Dist(new SamplingOptions { Temperature = 1f, TopP = 0.75f }, LogitsOf(0.1, 0.2, 0.3, 0.4));
        Assert.Equal([0f, 0.2f / 0.9f, 0.3f / 0.9f, 0.4f / 0.9f], p, new RoundedComparer());
    }

    [Fact]
    public void MinPDropsTokensBelowAFractionOfTheBest()
    {
        // 0.4 * 0.6 = 0.24: keep 0.3 and 0.4.
        var p = Dist(new SamplingOptions { Temperature = 1f, MinP = 0.6f }, LogitsOf(0.1, 0.2, 0.3, 0.4));
        Assert.Equal([0f, 0f, 0.3f / 0.7f, 0.4f / 0.7f], p, new RoundedComparer());
    }

    [Fact]
    public void TemperatureSharpensAndFlattens()
    {
        double[] model = [0.1, 0.2, 0.3, 0.4];
        var logits = LogitsOf(model);
        // Temperature T raises every probability to the power 1/T before normalizing: T = 0.5 squares them
        // (0.01, 0.04, 0.09, 0.16 over 0.30), T = 2 takes square roots (over sqrt .1 + sqrt .2 + sqrt .3 + sqrt .4).
        foreach (double t in new[] { 0.5, 2.0, 4.0 })
        {
            var p = Dist(new SamplingOptions { Temperature = (float)t }, logits);
            double total = model.Sum(x => Math.Pow(x, 1 / t));
            for (int i = 0; i < model.Length; i++) Assert.Equal(Math.Pow(model[i], 1 / t) / total, p[i], 5);
        }
    }

    [Fact]
    public void RepetitionPenaltyDividesPositiveAndMultipliesNegativeLogitsOfSeenTokens()
    {
        // llama.cpp's rule: a seen token's logit l becomes l / penalty when positive, l * penalty otherwise, once
        // however often it was seen. Penalty 2 on seen tokens 0 (twice) and 1: logits (2, -1, 1, 0.5) -> (1, -2, 1, 0.5).
        var logits = new float[] { 2f, -1f, 1f, 0.5f };
        var p = Dist(new SamplingOptions { Temperature = 1f, RepetitionPenalty = 2f }, logits, [0, 0, 1]);
        AssertSoftmax([1, -2, 1, 0.5], p);
        // Only the last RepetitionWindow tokens count: with a window of 1, only token 1 is penalized.
        p = Dist(new SamplingOptions { Temperature = 1f, RepetitionPenalty = 2f, RepetitionWindow = 1 }, logits, [0, 1]);
        AssertSoftmax([2, -2, 1, 0.5], p);
        // Greedy sees the penalized logits: penalty 4 takes token 0 from 2 to 0.5, below token 2's 1.
        p = Dist(new SamplingOptions { RepetitionPenalty = 4f }, logits, [0]);
        Assert.Equal([0f, 0f, 1f, 0f], p);
        Assert.Equal(2, new Sampler(new SamplingOptions { RepetitionPenalty = 4f }, 4).Sample(logits, [0]));
    }

    private static void AssertSoftmax(double[] logits, float[] p)
    {
        double total = logits.Sum(Math.Exp);
        for (int i = 0; i < logits.Length; i++) Assert.Equal(Math.Exp(logits[i]) / total, p[i], 5);
    }

    [Fact]
    public void SameSeedSameTokensOtherSeedOtherTokens()
    {
        var logits = LogitsOf(0.1, 0.2, 0.3, 0.4);
        int[] Draw(ulong seed)
        {
            var s = new Sampler(new SamplingOptions { Temperature = 1f, Seed = seed }, 4);
            return Enumerable.Range(0, 64).Select(_ => s.Sample(logits, [])).ToArray();
        }
        Assert.Equal(Draw(42), Draw(42));
        Assert.NotEqual(Draw(42), Draw(43));
    }

    [Fact]
    public void DrawsFollowTheDistributionByChiSquare()
    {
        double[] expected = [0.1, 0.2, 0.3, 0.4];
        var s = new Sampler(new SamplingOptions { Temperature = 1f, Seed = 7 }, 4);
        var logits = LogitsOf(expected);
        const int n = 20_000;
        var counts = new int[4];
        for (int i = 0; i < n; i++) counts[s.Sample(logits, [])]++;
        double chi2 = Enumerable.Range(0, 4).Sum(i => Math.Pow(counts[i] - n * expected[i], 2) / (n * expected[i]));
        Assert.True(chi2 < 16.27, $"chi-square {chi2} over 3 degrees of freedom (p < 0.001 critical value 16.27)"); // p = 0.001
        // And a wrong distribution is rejected by the same test.
        double[] wrong = [0.25, 0.25, 0.25, 0.25];
        double chi2Wrong = Enumerable.Range(0, 4).Sum(i => Math.Pow(counts[i] - n * wrong[i], 2) / (n * wrong[i]));
        Assert.True(chi2Wrong > 16.27);
    }

    [Theory]
    [InlineData(-1f, 0, 1f, 0f, 1f)]
    [InlineData(1f, -2, 1f, 0f, 1f)]
    [InlineData(1f, 0, 0f, 0f, 1f)]
    [InlineData(1f, 0, 1.5f, 0f, 1f)]
    [InlineData(1f, 0, 1f, -0.1f, 1f)]
    [InlineData(1f, 0, 1f, 0f, 0f)]
    [InlineData(float.NaN, 0, 1f, 0f, 1f)]
    public void BadOptionsAreRejected(float temperature, int topK, float topP, float minP, float penalty)
    {
        var o = new SamplingOptions { Temperature = temperature, TopK = topK, TopP = topP, MinP = minP, RepetitionPenalty = penalty };
        Assert.Throws<InvalidRequestException>(o.Validate);
    }

    private sealed class RoundedComparer : IEqualityComparer<float>
    {
        public bool Equals(float x, float y) => Math.Abs(x - y) < 1e-5f;
        public int GetHashCode(float obj) => 0;
    }
}
