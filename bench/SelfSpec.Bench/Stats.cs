namespace SelfSpec.Bench;

internal static class Stats
{
    public static double Median(IEnumerable<double> values)
    {
        var s = values.Order().ToArray();
        if (s.Length == 0) return double.NaN;
        return s.Length % 2 == 1 ? s[s.Length / 2] : 0.5 * (s[s.Length / 2 - 1] + s[s.Length / 2]);
    }

    /// <summary>Geometric mean of the positive, finite values (NaN when there are none).</summary>
    public static double GeoMean(IEnumerable<double> values)
    {
        double sum = 0;
        int n = 0;
        foreach (double v in values)
        {
            if (!(v > 0) || double.IsInfinity(v)) continue;
            sum += Math.Log(v);
            n++;
        }
        return n == 0 ? double.NaN : Math.Exp(sum / n);
    }
}
