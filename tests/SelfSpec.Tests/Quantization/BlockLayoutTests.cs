// Block struct sizes and type geometry must match ggml-common.h's static asserts byte for byte.
using System.Runtime.CompilerServices;
using SelfSpec.Quantization;

namespace SelfSpec.Tests.Quantization;

public sealed class BlockLayoutTests
{
    [Fact]
    public void StructSizesMatchGgml()
    {
        Assert.Equal(18, Unsafe.SizeOf<BlockQ4_0>());
        Assert.Equal(20, Unsafe.SizeOf<BlockQ4_1>());
        Assert.Equal(34, Unsafe.SizeOf<BlockQ8_0>());
        Assert.Equal(36, Unsafe.SizeOf<BlockQ8_1>());
        Assert.Equal(144, Unsafe.SizeOf<BlockQ4_K>());
        Assert.Equal(176, Unsafe.SizeOf<BlockQ5_K>());
        Assert.Equal(210, Unsafe.SizeOf<BlockQ6_K>());
        Assert.Equal(292, Unsafe.SizeOf<BlockQ8_K>());
        Assert.Equal(22, Unsafe.SizeOf<BlockQ5_0>());
        Assert.Equal(24, Unsafe.SizeOf<BlockQ5_1>());
        Assert.Equal(18, Unsafe.SizeOf<BlockIQ4_NL>());
        Assert.Equal(136, Unsafe.SizeOf<BlockIQ4_XS>());
        Assert.Equal(110, Unsafe.SizeOf<BlockQ3_K>());
        Assert.Equal(84, Unsafe.SizeOf<BlockQ2_K>());
    }

    [Fact]
    public void BlockBytesAgreeWithStructs()
    {
        Assert.Equal(Unsafe.SizeOf<BlockQ4_0>(), GgmlTypeInfo.BlockBytes(GgmlType.Q4_0));
        Assert.Equal(Unsafe.SizeOf<BlockQ4_1>(), GgmlTypeInfo.BlockBytes(GgmlType.Q4_1));
        Assert.Equal(Unsafe.SizeOf<BlockQ8_0>(), GgmlTypeInfo.BlockBytes(GgmlType.Q8_0));
        Assert.Equal(Unsafe.SizeOf<BlockQ8_1>(), GgmlTypeInfo.BlockBytes(GgmlType.Q8_1));
        Assert.Equal(Unsafe.SizeOf<BlockQ4_K>(), GgmlTypeInfo.BlockBytes(GgmlType.Q4_K));
        Assert.Equal(Unsafe.SizeOf<BlockQ5_K>(), GgmlTypeInfo.BlockBytes(GgmlType.Q5_K));
        Assert.Equal(Unsafe.SizeOf<BlockQ6_K>(), GgmlTypeInfo.BlockBytes(GgmlType.Q6_K));
        Assert.Equal(Unsafe.SizeOf<BlockQ8_K>(), GgmlTypeInfo.BlockBytes(GgmlType.Q8_K));
        Assert.Equal(Unsafe.SizeOf<BlockQ5_0>(), GgmlTypeInfo.BlockBytes(GgmlType.Q5_0));
        Assert.Equal(Unsafe.SizeOf<BlockQ5_1>(), GgmlTypeInfo.BlockBytes(GgmlType.Q5_1));
        Assert.Equal(Unsafe.SizeOf<BlockIQ4_NL>(), GgmlTypeInfo.BlockBytes(GgmlType.IQ4_NL));
        Assert.Equal(Unsafe.SizeOf<BlockIQ4_XS>(), GgmlTypeInfo.BlockBytes(GgmlType.IQ4_XS));
        Assert.Equal(Unsafe.SizeOf<BlockQ3_K>(), GgmlTypeInfo.BlockBytes(GgmlType.Q3_K));
        Assert.Equal(Unsafe.SizeOf<BlockQ2_K>(), GgmlTypeInfo.BlockBytes(GgmlType.Q2_K));
    }

    [Fact]
    public void IdsMatchGgml()
    {
        Assert.Equal(0u, (uint)GgmlType.F32);
        Assert.Equal(2u, (uint)GgmlType.Q4_0);
        Assert.Equal(3u, (uint)GgmlType.Q4_1);
        Assert.Equal(8u, (uint)GgmlType.Q8_0);
        Assert.Equal(12u, (uint)GgmlType.Q4_K);
        Assert.Equal(14u, (uint)GgmlType.Q6_K);
        Assert.Equal(30u, (uint)GgmlType.BF16);
    }

    [Fact]
    public void RowBytesAndNames()
    {
        Assert.Equal(576 / 32 * 20, GgmlTypeInfo.RowBytes(GgmlType.Q4_1, 576));
        Assert.Equal(512 / 256 * 210, GgmlTypeInfo.RowBytes(GgmlType.Q6_K, 512));
        Assert.Equal(10, GgmlTypeInfo.RowBytes(GgmlType.F16, 5));
        Assert.Throws<ArgumentException>(() => GgmlTypeInfo.RowBytes(GgmlType.Q4_0, 33));
        Assert.Throws<NotSupportedException>(() => GgmlTypeInfo.BlockSize(GgmlType.IQ2_XXS));
        Assert.Equal("q4_K", GgmlTypeInfo.Name(GgmlType.Q4_K));
        Assert.Equal("q8_0", GgmlTypeInfo.Name(GgmlType.Q8_0));
        Assert.Equal("bf16", GgmlTypeInfo.Name(GgmlType.BF16));
        Assert.Equal("type(99)", GgmlTypeInfo.Name((GgmlType)99));
        Assert.True(GgmlTypeInfo.IsSupportedWeight(GgmlType.Q4_1));
        Assert.True(GgmlTypeInfo.IsSupportedWeight(GgmlType.Q2_K));
        Assert.False(GgmlTypeInfo.IsSupportedWeight(GgmlType.IQ2_XXS));
        Assert.False(GgmlTypeInfo.IsSupportedWeight(GgmlType.Q8_K));
    }
}
