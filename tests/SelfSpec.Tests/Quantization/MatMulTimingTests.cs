// Quick single-thread timings of the hot matmul shapes of SmolLM2-135M (inDim x outDim), printed to the test
// output (best of 25 samples; run with --logger "console;verbosity=detailed"). Asserts nothing about speed: a sanity report only.
using System.Diagnostics;
using SelfSpec.Kernels;
using SelfSpec.Quantization;
using Xunit.Abstractions;

namespace SelfSpec.Tests.Quantization;

public sealed class MatMulTimingTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(GgmlType.Q4_1, 576, 1536)]
    [InlineData(GgmlType.Q4_1, 1536, 576)]
    [InlineData(GgmlType.Q8_0, 576, 49152)]
    [InlineData(GgmlType.Q8_0, 576, 1536)]
    [InlineData(GgmlType.Q4_1, 576, 49152)]
    [InlineData(GgmlType.Q4_0, 576, 49152)]
    [InlineData(GgmlType.Q4_0, 576, 1536)]
    [InlineData(GgmlType.Q4_K, 768, 1536)]
    [InlineData(GgmlType.Q6_K, 768, 1536)]
    [InlineData(GgmlType.F16, 576, 1536)]
    public void ReportMicroseconds(GgmlType t, int inDim, int outDim)
    {
        var rng = new Random(1);
        int wb = (int)GgmlTypeInfo.RowBytes(t, inDim);
        var w = new byte[(long)outDim * wb];
        float[] row = QuantTestData.Floats(rng, inDim, 0.05f);
        for (int o = 0; o < outDim; o++) Quantize.Row(t, row, w.AsSpan(o * wb, wb));
        foreach (int batch in new[] { 1, 8 })
        {
            float[] x = QuantTestData.Floats(rng, batch * inDim);
            var a = new byte[batch * MatMul.ActivationRowBytes(t, inDim)];
            var y = new float[batch * outDim];
            int reps = Math.Max(1, 200_000 / (inDim * outDim * batch / 64 + 1)); // about 1 ms a sample
            // Warm the caches (the kernels are compiled fully optimized on first use).
            var sw = Stopwatch.StartNew();
            while (sw.ElapsedMilliseconds < 50)
            {
                MatMul.QuantizeActivations(t, x, batch, inDim, a);
                MatMul.Rows(t, w, inDim, a, batch, y, outDim, 0, outDim);
            }

            sw.Restart();
            for (int i = 0; i < reps; i++) MatMul.QuantizeActivations(t, x, batch, inDim, a);
            double quantUs = sw.Elapsed.TotalMicroseconds / reps;
            double best = double.MaxValue;
            for (int r = 0; r < 25; r++) // best of many: the build machine is shared and noisy
            {
                sw.Restart();
                for (int i = 0; i < reps; i++) MatMul.Rows(t, w, inDim, a, batch, y, outDim, 0, outDim);
                best = Math.Min(best, sw.Elapsed.TotalMicroseconds / reps);
            }

            double gmacs = (double)inDim * outDim * batch / best / 1e3;
            output.WriteLine($"{GgmlTypeInfo.Name(t)} {inDim}x{outDim} batch {batch}: matmul {best:F1} us ({gmacs:F1} GMAC/s), quantize activations {quantUs:F2} us");
        }
    }
}
