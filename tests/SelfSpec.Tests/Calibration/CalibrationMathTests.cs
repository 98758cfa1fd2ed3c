using SelfSpec.Calibration;

namespace SelfSpec.Tests.Calibration;

/// <summary>The fitting machinery of calibration on synthetic data: products, ridge, distillation.</summary>
public sealed class CalibrationMathTests
{
    private static float[] Random(Random rng, int n, float scale = 1f) =>
        Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1) * scale).ToArray();

    [Theory]
    [InlineData(1, 1, 1, 1)]
    [InlineData(4, 4, 16, 1)]
    [InlineData(5, 7, 33, 2)]
    [InlineData(9, 130, 64, 2)]
    [InlineData(2, 300, 48, 2)]
    [InlineData(13, 67, 17, 3)]
    public void ProductsMatchTheirReferences(int m, int n, int k, int threads)
    {
        var rng = new Random(m * 1000 + n * 10 + k);
        float[] a = Random(rng, m * k), bt = Random(rng, n * k), b = Random(rng, k * n);
        var fast = new float[m * n];
        var slow = new float[m * n];
        FloatGemm.MultiplyTransposed(a, bt, fast, m, n, k, threads);
        FloatGemm.MultiplyTransposedReference(a, bt, slow, m, n, k);
        for (int i = 0; i < fast.Length; i++) Assert.True(Math.Abs(fast[i] - slow[i]) < 1e-4f * k, $"a b^T [{i}]: {fast[i]} vs {slow[i]}");
        FloatGemm.Multiply(a, b, fast, m, n, k, threads);
        FloatGemm.MultiplyReference(a, b, slow, m, n, k);
        for (int i = 0; i < fast.Length; i++) Assert.True(Math.Abs(fast[i] - slow[i]) < 1e-4f * k, $"a b [{i}]: {fast[i]} vs {slow[i]}");
        FloatGemm.Multiply(a, b, fast, m, n, k, threads, accumulate: true);
        for (int i = 0; i < fast.Length; i++) Assert.True(Math.Abs(fast[i] - 2 * slow[i]) < 2e-4f * k, $"accumulate [{i}]");
    }

    [Fact]
    public void RidgeRecoversAKnownAffineMap()
    {
        const int d = 24, n = 3000;
        var rng = new Random(7);
        float[] a = Random(rng, d * d), b = Random(rng, d, 3f);
        float[] x = Random(rng, n * d, 5f);
        for (int i = 0; i < n; i++) x[i * d + 3] += 40f; // an offset dimension, as residual streams have
        var truth = new Translator(1, d, a, b);
        var y = new float[n * d];
        truth.Apply(x, y, n);
        for (int i = 0; i < y.Length; i++) y[i] += (float)(rng.NextDouble() - 0.5) * 1e-3f;
        var rows = Enumerable.Range(0, n).ToArray();
        var stats = Ridge.Accumulate(new FloatRows(x, d), new FloatRows(y, d), rows, threads: 2);
        var fit = Ridge.Solve(stats, 1e-6 * stats.MeanVariance, layer: 1);
        for (int i = 0; i < a.Length; i++) Assert.True(Math.Abs(fit.A[i] - a[i]) < 2e-3f, $"A[{i}] {fit.A[i]} vs {a[i]}");
        for (int i = 0; i < d; i++) Assert.True(Math.Abs(fit.B[i] - b[i]) < 2e-2f, $"b[{i}] {fit.B[i]} vs {b[i]}");

        // A strong penalty shrinks the map toward zero (the penalty has teeth).
        var shrunk = Ridge.Solve(stats, 1e3 * stats.MeanVariance, layer: 1);
        Assert.True(shrunk.A.Sum(v => Math.Abs(v)) < 0.1 * a.Sum(v => Math.Abs(v)));
    }

    [Fact]
    public void DistillationLowersHeldOutKl()
    {
        const int d = 32, vocab = 96, n = 4000;
        var rng = new Random(11);
        // A teacher translator the student must find; the draft head covers two thirds of the vocabulary.
        var teacherMap = new Translator(1, d, Random(rng, d * d, 0.4f), Random(rng, d, 0.5f));
        for (int i = 0; i < d; i++) teacherMap.A[i * d + i] += 1f;
        float[] headWeights = Random(rng, vocab * d, 1.5f);
        float[] norm = Enumerable.Range(0, d).Select(_ => 0.8f + 0.4f * (float)rng.NextDouble()).ToArray();
        int[] draftTokens = Enumerable.Range(0, vocab).Where(t => t % 3 != 2).ToArray();
        var full = new DraftHead(Enumerable.Range(0, vocab).ToArray(), headWeights, norm, 1e-5f, vocab);
        var draft = new DraftHead(draftTokens, draftTokens.SelectMany(t => headWeights.AsSpan(t * d, d).ToArray()).ToArray(), norm, 1e-5f, vocab);

        float[] x = Random(rng, n * d, 2f);
        const int k = 8;
        var ids = new int[n * k];
        var probs = new float[n * k];
        var argmax = new int[n];
        var z = new float[d];
        var u = new float[d];
        var inv = new float[1];
        var logits = new float[vocab];
        for (int i = 0; i < n; i++)
        {
            teacherMap.Apply(x.AsSpan(i * d, d), z, 1);
            full.Normalize(z, u, inv, 1);
            full.Logits(u, logits, 1, vocab, 1);
            float max = logits.Max();
            double sum = logits.Sum(l => Math.Exp(l - max));
            var top = Enumerable.Range(0, vocab).OrderByDescending(t => logits[t]).Take(k).ToArray();
            for (int j = 0; j < k; j++)
            {
                ids[i * k + j] = top[j];
                probs[i * k + j] = (float)(Math.Exp(logits[top[j]] - max) / sum);
            }
            argmax[i] = top[0];
        }
        var teacher = new Teacher(ids, probs, k, argmax);
        int[] train = Enumerable.Range(0, 3000).ToArray(), heldOut = Enumerable.Range(3000, 1000).ToArray();
        var start = Translator.Identity(1, d);
        var result = Distillation.Run(start, new FloatRows(x, d), teacher, draft, train, heldOut,
            new DistillationOptions { Batch = 128, LearningRate = 1e-2f, MaxSteps = 300, EvalEvery = 20, Patience = 3, Threads = 2 });
        Assert.True(result.BestKl < 0.5 * result.InitialKl, $"held-out KL {result.InitialKl:F4} -> {result.BestKl:F4}");
        Assert.Equal(result.BestKl, new Distillation(new FloatRows(x, d), teacher, draft, 128, 1).MeanKl(result.Best, heldOut), 4);
    }

    [Fact]
    public void DistillationGradientMatchesFiniteDifferences()
    {
        const int d = 16, vocab = 40, n = 64;
        var rng = new Random(5);
        var t = new Translator(1, d, Random(rng, d * d, 0.5f), Random(rng, d, 0.5f));
        float[] weights = Random(rng, vocab * d);
        float[] norm = Enumerable.Range(0, d).Select(_ => 1f + 0.2f * (float)rng.NextDouble()).ToArray();
        var head = new DraftHead(Enumerable.Range(0, vocab).ToArray(), weights, norm, 1e-5f, vocab);
        float[] x = Random(rng, n * d, 2f);
        const int k = 4;
        var ids = Enumerable.Range(0, n * k).Select(i => (i * 7 + i / k) % vocab).ToArray();
        var probs = Enumerable.Range(0, n * k).Select(i => 0.4f / (1 + i % k)).ToArray();
        var teacher = new Teacher(ids, probs, k, new int[n]);
        var run = new Distillation(new FloatRows(x, d), teacher, head, n, 1);
        var rows = Enumerable.Range(0, n).ToArray();
        var gA = new float[d * d];
        var gB = new float[d];
        run.Gradient(t, rows, gA, gB);
        foreach (int i in new[] { 0, 17, 100, 255 })
        {
            float keep = t.A[i];
            t.A[i] = keep + 1e-2f;
            double up = run.MeanKl(t, rows);
            t.A[i] = keep - 1e-2f;
            double down = run.MeanKl(t, rows);
            t.A[i] = keep;
            double numeric = (up - down) / 2e-2;
            Assert.True(Math.Abs(numeric - gA[i]) < 2e-3 + 0.05 * Math.Abs(numeric), $"dA[{i}]: {gA[i]} vs {numeric}");
        }
        foreach (int i in new[] { 0, 9 })
        {
            float keep = t.B[i];
            t.B[i] = keep + 1e-2f;
            double up = run.MeanKl(t, rows);
            t.B[i] = keep - 1e-2f;
            double down = run.MeanKl(t, rows);
            t.B[i] = keep;
            double numeric = (up - down) / 2e-2;
            Assert.True(Math.Abs(numeric - gB[i]) < 2e-3 + 0.05 * Math.Abs(numeric), $"db[{i}]: {gB[i]} vs {numeric}");
        }
    }
}
