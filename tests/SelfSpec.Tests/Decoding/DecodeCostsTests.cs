using SelfSpec.Decoding;

namespace SelfSpec.Tests.Decoding;

/// <summary>The price bound's cost table: measured sizes as measured, others extrapolated, never decreasing, lower envelope.</summary>
public sealed class DecodeCostsTests
{
    [Fact]
    public void UnmeasuredSizesExtrapolateFromTheNearestSmallerMeasuredOne()
    {
        var c = new DecodeCosts(16);
        c.ObserveForward(1, 10, 10e-3);  // 1 ms a layer
        c.ObserveForward(2, 10, 12e-3);  // 1.2 ms a layer
        Assert.Equal(1e-3, c.Layer(1), 12);
        Assert.Equal(1.2e-3, c.Layer(2), 12);
        Assert.Equal(1.2e-3 + DecodeCosts.PriorRho * 1e-3, c.Layer(3), 12);
        Assert.Equal(0.2, c.Rho(1), 9);
        Assert.Equal(DecodeCosts.PriorRho, c.Rho(2), 9);
    }

    [Fact]
    public void CostsNeverDecreaseWithTheBatch()
    {
        var c = new DecodeCosts(8);
        c.ObserveForward(1, 1, 2e-3);
        c.ObserveForward(3, 1, 1e-3); // a measurement below the one-row cost (noise)
        Assert.Equal(c.Layer(2), c.Layer(3));
        Assert.Equal(0, c.MarginalLayer(2));
    }

    [Fact]
    public void EstimatesFollowTheLowerEnvelope()
    {
        var c = new DecodeCosts(4);
        c.ObserveHead(1, 1e-3);
        c.ObserveHead(1, 5e-3); // another process took the core: believed slowly
        Assert.True(c.Head(1) < 1.5e-3, $"{c.Head(1)}");
        c.ObserveHead(1, 0.5e-3); // faster: believed at once (halfway)
        Assert.True(c.Head(1) < 1e-3, $"{c.Head(1)}");
    }

    [Fact]
    public void AnUnconfirmedHighSampleCountsAtMostTheExtrapolation()
    {
        var c = new DecodeCosts(4);
        c.ObserveForward(1, 1, 1e-3);
        c.ObserveForward(2, 1, 3e-3); // one 2-row call while another process held a core
        Assert.Equal(1e-3 + DecodeCosts.PriorRho * 1e-3, c.Layer(2), 12);
        for (int i = 1; i < DecodeCosts.Confirmations; i++) c.ObserveForward(2, 1, 3e-3);
        // Confirmed, it is believed, but never above two one-row calls.
        Assert.Equal(2e-3, c.Layer(2), 12);
        c.ObserveForward(2, 1, 1.1e-3); // faster samples pull it down halfway each
        c.ObserveForward(2, 1, 1.1e-3);
        Assert.Equal(1.575e-3, c.Layer(2), 12);
    }

    [Fact]
    public void AnUnconfirmedLowSampleIsBelievedAtOnce()
    {
        var c = new DecodeCosts(4);
        c.ObserveHead(1, 1e-3);
        c.ObserveHead(2, 1.1e-3);
        Assert.Equal(1.1e-3, c.Head(2), 12);
        Assert.Equal(0.1e-3, c.MarginalHead(1), 12);
    }

    [Fact]
    public void BadObservationsAreIgnored()
    {
        var c = new DecodeCosts(4);
        c.ObserveForward(0, 5, 1e-3);
        c.ObserveForward(9, 5, 1e-3);
        c.ObserveForward(1, 0, 1e-3);
        c.ObserveForward(1, 5, -1);
        c.ObserveForward(1, 5, double.NaN);
        c.ObserveHead(5, 1);
        Assert.Equal(1e-4, c.Layer(1), 12); // still the prior
        Assert.True(double.IsFinite(c.Rho(1)));
    }
}
