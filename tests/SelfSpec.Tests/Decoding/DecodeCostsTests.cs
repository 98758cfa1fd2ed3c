using SelfSpec.Decoding;

namespace SelfSpec.Tests.Decoding;

/// <summary>
/// The price bound's cost table: one-row costs as running medians, larger sizes as running medians of their ratio
/// to the one-row cost, starting from the extrapolation; never decreasing, never above the size below plus one.
/// </summary>
public sealed class DecodeCostsTests
{
    private static void Repeat(int times, Action a)
    {
        for (int i = 0; i < times; i++) a();
    }

    [Fact]
    public void UnmeasuredSizesExtrapolateFromTheSizeBelow()
    {
        var c = new DecodeCosts(16);
        c.ObserveForward(1, 10, 10e-3); // 1 ms a layer
        Assert.Equal(1e-3, c.Layer(1), 12);
        Assert.Equal((1 + DecodeCosts.PriorRho) * 1e-3, c.Layer(2), 12);
        Assert.Equal((1 + 2 * DecodeCosts.PriorRho) * 1e-3, c.Layer(3), 12);
        Assert.Equal(DecodeCosts.PriorRho, c.Rho(1), 9);
    }

    [Fact]
    public void UnmeasuredSizesBetweenMeasuredOnesLieOnTheLineBetweenThem()
    {
        var c = new DecodeCosts(9);
        Repeat(100, () => c.ObserveForward(1, 1, 1e-3));
        Repeat(200, () => c.ObserveForward(2, 1, 1.1e-3));
        Repeat(200, () => c.ObserveForward(8, 1, 1.7e-3)); // a long copy's round: far below 2 rows + 6 x PriorRho
        double two = c.Layer(2), eight = c.Layer(8);
        Assert.Equal(1.7e-3, eight, 1e-4);
        for (int n = 3; n < 8; n++)
            Assert.Equal(two + (eight - two) * (n - 2) / 6, c.Layer(n), 12);
        // The ninth row opens a second tile of activation rows: a whole one-row call until timed.
        Assert.Equal(eight + 1e-3, c.Layer(9), 12);
    }

    [Fact]
    public void AboveTheMeasuredSizesInATileARowCostsWhatARowHasCostSoFar()
    {
        var c = new DecodeCosts(8);
        Repeat(100, () => c.ObserveForward(1, 1, 1e-3));
        Repeat(200, () => c.ObserveForward(5, 1, 1.4e-3)); // 0.1 a row measured, below the prior
        double five = c.Layer(5);
        Assert.True((five / 1e-3 - 1) / 4 < DecodeCosts.PriorRho);
        Assert.Equal(five + (five - 1e-3) / 4, c.Layer(6), 12);
    }

    [Fact]
    public void AboveTheMeasuredSizesARowNeverCostsMoreThanThePrior()
    {
        var c = new DecodeCosts(4);
        Repeat(100, () => c.ObserveForward(1, 1, 1e-3));
        Repeat(200, () => c.ObserveForward(2, 1, 1.8e-3)); // dear rows: 0.8 a row measured
        Assert.Equal(c.Layer(2) + DecodeCosts.PriorRho * 1e-3, c.Layer(3), 12);
    }

    [Fact]
    public void ASizeMovesFromItsExtrapolationTowardItsSamples()
    {
        var c = new DecodeCosts(4);
        c.ObserveForward(1, 1, 1e-3);
        c.ObserveForward(2, 1, 3e-3); // one 2-row call while another process held a core
        Assert.Equal((1 + DecodeCosts.PriorRho) * (1 + DecodeCosts.Step) * 1e-3, c.Layer(2), 12);
        Repeat(200, () => c.ObserveForward(2, 1, 1.2e-3));
        Assert.Equal(1.2e-3, c.Layer(2), 1e-4);
        Assert.Equal(0.2, c.Rho(1), 0.1);
    }

    [Fact]
    public void ASlowSpellMovesBothSizesAndLeavesTheRatio()
    {
        var c = new DecodeCosts(4);
        for (int i = 0; i < 300; i++)
        {
            double speed = i % 40 < 10 ? 3 : 1; // a quarter of the time, everything takes three times as long
            c.ObserveForward(1, 1, speed * 1e-3);
            if (i % 3 == 0) c.ObserveForward(2, 1, speed * 1.25e-3);
        }
        Assert.Equal(1.25, c.Layer(2) / c.Layer(1), 0.08);
    }

    [Fact]
    public void ConsistentlyDearerRowsAreBelievedButNeverAboveTwoCalls()
    {
        var c = new DecodeCosts(4);
        c.ObserveHead(1, 1e-3);
        Repeat(100, () => c.ObserveHead(2, 3e-3));
        Assert.Equal(2e-3, c.Head(2), 12); // two one-row calls would do
        Repeat(100, () => c.ObserveHead(2, 1.6e-3));
        Assert.Equal(1.6e-3, c.Head(2), 1e-4);
    }

    [Fact]
    public void CostsNeverDecreaseWithTheBatch()
    {
        var c = new DecodeCosts(8);
        c.ObserveForward(1, 1, 2e-3);
        Repeat(100, () => c.ObserveForward(3, 1, 1e-3)); // measurements below the one-row cost (noise)
        Assert.Equal(c.Layer(2), c.Layer(3));
        Assert.Equal(0, c.MarginalLayer(2));
    }

    [Fact]
    public void OneOutlierBarelyMovesAMedian()
    {
        var c = new DecodeCosts(4);
        Repeat(50, () => c.ObserveHead(1, 1e-3));
        c.ObserveHead(1, 50e-3);
        Assert.True(c.Head(1) <= 1.05e-3, $"{c.Head(1)}");
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
        c.ObserveForward(1, 5, double.PositiveInfinity);
        c.ObserveHead(5, 1);
        Assert.Equal(1e-4, c.Layer(1), 12); // still the prior
        Assert.True(double.IsFinite(c.Rho(1)));
    }

    [Fact]
    public void WithoutAOneRowCallLargerSamplesStillTeachTheSteps()
    {
        // Eight sequences decode in passes of 8 rows, with a draft 9: a one-row call never comes. The table must still
        // learn what the ninth row costs (before, every sample was dropped and the prior priced it at 0.3 of a row).
        var c = new DecodeCosts(16);
        c.ObserveForward(16, 1, 5e-3); // a prefill chunk first: over two tiles the prior's shape is too far off to scale by
        Assert.Equal(1e-4, c.Layer(1), 12);
        for (int i = 0; i < 300; i++)
        {
            c.ObserveForward(8, 1, 2.0e-3);
            if (i % 2 == 0) c.ObserveForward(9, 1, 2.6e-3);
        }
        // (The one-row scale is inferred from the prior's shape, 3.1 one-row calls for 8 rows, so the cap of a whole
        // call more than the size below is in those units: here 9 rows may cost up to 4.1 / 3.1 of 8.)
        Assert.Equal(1.3, c.Layer(9) / c.Layer(8), 0.05);
    }

    [Fact]
    public void ARowThatOpensATileCostsAWholeCallUntilTimed()
    {
        var c = new DecodeCosts(32);
        c.ObserveForward(1, 1, 1e-3);
        Assert.Equal(DecodeCosts.PriorRho, c.MarginalLayer(7) / c.Layer(1), 9);
        Assert.Equal(1.0, c.MarginalLayer(DecodeCosts.TileRows) / c.Layer(1), 9);
        Assert.Equal(1.0, c.MarginalLayer(2 * DecodeCosts.TileRows) / c.Layer(1), 9);
    }

    [Fact]
    public void SizesPastTheTimedOnesRepeatTheLastTile()
    {
        // Timed at 1..17 rows (two tiles and the row that opens a third), a staircase with uneven steps.
        int rows = 2 * DecodeCosts.TileRows + 1;
        var ratio = new double[rows + 1];
        for (int n = 1; n <= rows; n++) ratio[n] = n == 1 ? 1 : ratio[n - 1] + (n % DecodeCosts.TileRows == 1 ? 0.8 : 0.1 + 0.01 * n);
        var c = new DecodeCosts(40);
        c.ObserveForward(1, 1, 1e-3);
        Repeat(400, () =>
        {
            for (int n = 2; n <= rows; n++) c.ObserveForward(n, 1, 1e-3 * ratio[n]);
        });
        for (int n = 2; n <= rows; n++) Assert.Equal(ratio[n] * 1e-3, c.Layer(n), 0.05 * ratio[n] * 1e-3); // a running median settles within a step
        // Past them each row adds what the row a tile earlier added, so the rows that open the fourth and fifth tiles
        // cost what the one that opened the third did.
        for (int n = rows + 1; n <= 40; n++)
            Assert.Equal(c.Layer(n - DecodeCosts.TileRows) - c.Layer(n - DecodeCosts.TileRows - 1), c.Layer(n) - c.Layer(n - 1), 12);
        Assert.Equal(c.MarginalLayer(2 * DecodeCosts.TileRows), c.MarginalLayer(3 * DecodeCosts.TileRows), 12);
        Assert.Equal(c.MarginalLayer(2 * DecodeCosts.TileRows), c.MarginalLayer(4 * DecodeCosts.TileRows), 12);
    }
}
