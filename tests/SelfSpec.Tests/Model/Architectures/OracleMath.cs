namespace SelfSpec.Tests.Model.Architectures;

/// <summary>How far a logit vector is from its reference.</summary>
internal static class OracleMath
{
    /// <summary>||actual - expected|| / ||expected||.</summary>
    public static double RelativeL2(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected)
    {
        if (actual.Length != expected.Length) throw new ArgumentException("length mismatch");
        double diff2 = 0, ref2 = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            double d = actual[i] - expected[i];
            diff2 += d * d;
            ref2 += (double)expected[i] * expected[i];
        }
        return Math.Sqrt(diff2 / ref2);
    }
}
