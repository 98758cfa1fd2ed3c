// The tensor-type table: every row is consistent with itself and with the entry points that read it.
using SelfSpec.Quantization;

namespace SelfSpec.Tests.Quantization;

public sealed class TensorTypesTests
{
    [Fact]
    public unsafe void RowsAreConsistent()
    {
        foreach (GgmlType t in Enum.GetValues<GgmlType>())
        {
            TensorTypeInfo? row = TensorTypes.Find(t);
            Assert.NotNull(row);
            Assert.Equal(t, row.Type);
            Assert.True(row.BlockSize is 1 or 32 or 256, $"{t}: block size {row.BlockSize}");
            Assert.True(row.BlockBytes > 0);
            Assert.Equal(row.Quantize == null, row.QuantizeReference == null);
            Assert.Equal(row.Dot == null, row.DotReference == null);
            if (row.IsWeight)
            {
                TensorTypeInfo act = TensorTypes.Get(row.Activation!.Value);
                Assert.True(act.CanDequantize && act.Quantize != null, $"{t}: activation {act.Type} cannot be written and read");
                Assert.Equal(0, Math.Max(row.BlockSize, act.BlockSize) % Math.Min(row.BlockSize, act.BlockSize));
                Assert.Contains(t.ToString(), TensorTypes.SupportedWeightList.Split(", "));
            }
            else
            {
                Assert.DoesNotContain(t.ToString(), TensorTypes.SupportedWeightList.Split(", "));
            }

            if (row.Tile != null || row.Pack != null) Assert.True(row.IsWeight);
        }

        Assert.Null(TensorTypes.Find((GgmlType)4)); // removed from ggml long ago
        Assert.Throws<NotSupportedException>(() => TensorTypes.Get((GgmlType)99));
    }

    [Fact]
    public void EntryPointsAgreeWithTheTable()
    {
        foreach (TensorTypeInfo row in TensorTypes.All)
        {
            Assert.Equal(row.IsWeight, GgmlTypeInfo.IsSupportedWeight(row.Type));
            Assert.True(GgmlTypeInfo.TryGetBlock(row.Type, out int bs, out int bb));
            Assert.Equal((row.BlockSize, row.BlockBytes), (bs, bb));
            if (row.IsWeight)
            {
                Assert.Equal(row.Activation, VecDot.ActivationType(row.Type));
            }
            else
            {
                Assert.Throws<NotSupportedException>(() => VecDot.ActivationType(row.Type));
            }

            if (!row.CanDequantize)
            {
                Assert.Throws<NotSupportedException>(() => Dequantize.Row(row.Type, new byte[row.BlockBytes], new float[row.BlockSize]));
                Assert.Throws<NotSupportedException>(() => GgmlTypeInfo.RowBytes(row.Type, row.BlockSize));
            }
        }
    }
}
