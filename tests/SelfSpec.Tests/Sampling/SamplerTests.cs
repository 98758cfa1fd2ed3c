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
        var logits = LogitsOf(0.1, 0.2, 0.3, 0.4);
        var cold = Dist(new SamplingOptions { Temperature = 0.5f }, logits);
        var hot = Dist(new SamplingOptions { Temperature = 2f }, logits);
        // T = 0.5 squares the probabilities before normalizing: 0.16 / 0.30.
        Assert.Equal(0.16 / 0.30, cold[3], 4);
        Assert.True(hot[3] < 0.4f && hot[0] > 0.1f);
    }

    [Fact]
    public void RepetitionPenaltyLowersSeenTokens()
    {
        var logits = new float[] { 2f, -1f, 1f, 0.5f };
        var p = Dist(new SamplingOptions { RepetitionPenalty = 2f }, logits, [0, 0]);
        // Token 0's logit 2 becomes 1: token 2 (logit 1) ties it and wins by lowest id only if lower; 0 < 2 so token 0 still wins.
        Assert.Equal(1f, p[0]);
        p = Dist(new SamplingOptions { RepetitionPenalty = 4f }, logits, [0]);
        Assert.Equal(1f, p[2]);
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
