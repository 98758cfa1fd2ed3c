namespace SelfSpec.Tests.Sampling;

/// <summary>
/// Pearson's chi-square test of sampled outcomes against their exact probabilities, the check behind the lossless
/// sampling tests (architecture.md 2.2): cells expected fewer than 5 times are pooled into one, and an outcome the
/// exact distribution cannot produce makes the statistic infinite (an infinitely bad fit).
/// </summary>
internal static class GoodnessOfFit
{
    public static (double Statistic, double Critical) ChiSquare<TKey>(IReadOnlyDictionary<TKey, double> exact,
        IReadOnlyDictionary<TKey, int> counts, int runs) where TKey : notnull
    {
        double statistic = 0, pooledExpected = 0, pooledObserved = 0;
        int cells = 0;
        foreach (var (key, p) in exact)
        {
            double expected = p * runs;
            int observed = counts.GetValueOrDefault(key);
            if (expected < 5) { pooledExpected += expected; pooledObserved += observed; continue; }
            statistic += (observed - expected) * (observed - expected) / expected;
            cells++;
        }
        if (pooledExpected > 0)
        {
            statistic += (pooledObserved - pooledExpected) * (pooledObserved - pooledExpected) / Math.Max(pooledExpected, 1);
            cells++;
        }
        bool impossible = counts.Keys.Any(key => !exact.ContainsKey(key));
        return (impossible ? double.PositiveInfinity : statistic, Critical(cells - 1));
    }

    /// <summary>Chi-square critical value at p = 0.001 (Wilson-Hilferty).</summary>
    public static double Critical(int df)
    {
        const double z = 3.09;
        double a = 2.0 / (9 * df);
        return df * Math.Pow(1 - a + z * Math.Sqrt(a), 3);
    }
}
