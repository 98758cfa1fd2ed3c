using SelfSpec.Kernels;

namespace SelfSpec.Tests.Kernels;

/// <summary>The vectorized GeGLU against its plain reference, at every length that hits a vector tail.</summary>
public sealed class GeGluTests
{
    [Fact]
    public void MatchesReference()
    {
        var rng = new Random(4);
        for (int n = 0; n <= 70; n++)
        {
            var gate = new float[n];
            var up = new float[n];
            for (int i = 0; i < n; i++)
            {
                gate[i] = (float)(rng.NextDouble() * 12 - 6);
                up[i] = (float)(rng.NextDouble() * 2 - 1);
            }
            var fast = new float[n];
            var slow = new float[n];
            GeGlu.Apply(gate, up, fast);
            GeGlu.Reference(gate, up, slow);
            for (int i = 0; i < n; i++) Assert.True(Math.Abs(fast[i] - slow[i]) <= 1e-5f * (1 + Math.Abs(slow[i])), $"n {n}, i {i}: {fast[i]} vs {slow[i]}");
        }
    }
}
