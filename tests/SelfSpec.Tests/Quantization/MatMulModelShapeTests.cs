// The hot matmul shapes of SmolLM2-135M (inDim x outDim), each checked against the scalar reference at a one-row
// batch (a decode step) and a five-row batch (a four-row group plus a single row). Their timings live in
// bench/SelfSpec.Kernels.Bench (MatMulBenchmarks, HeadBenchmarks): a test on a shared machine cannot time anything.
using SelfSpec.Kernels;
using SelfSpec.Quantization;

namespace SelfSpec.Tests.Quantization;

public sealed class MatMulModelShapeTests
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
    public void RowsMatchTheReference(GgmlType t, int inDim, int outDim)
    {
        var rng = new Random(1);
        int wb = (int)GgmlTypeInfo.RowBytes(t, inDim);
        var w = new byte[(long)outDim * wb];
        for (int o = 0; o < outDim; o++) Quantize.Row(t, QuantTestData.Floats(rng, inDim, 0.05f), w.AsSpan(o * wb, wb));
        foreach (int batch in new[] { 1, 5 })
        {
            float[] x = QuantTestData.Floats(rng, batch * inDim);
            var a = new byte[batch * MatMul.ActivationRowBytes(t, inDim)];
            MatMul.QuantizeActivations(t, x, batch, inDim, a);
            var fast = new float[batch * outDim];
            var reference = new float[batch * outDim];
            MatMul.Rows(t, w, inDim, a, batch, fast, outDim, 0, outDim);
            MatMul.RowsReference(t, w, inDim, a, batch, reference, outDim, 0, outDim);
            // The SIMD kernels sum the same products in another order: float rounding only (MatMulTests.MatchesReference).
            for (int i = 0; i < fast.Length; i++)
                Assert.True(Math.Abs(fast[i] - reference[i]) <= 1e-4 * (Math.Abs(reference[i]) + 1),
                    $"{t} {inDim}x{outDim} batch {batch} [{i}]: {fast[i]} vs reference {reference[i]}");
        }
    }
}
