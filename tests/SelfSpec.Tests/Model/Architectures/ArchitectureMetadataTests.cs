using SelfSpec.Gguf;
using SelfSpec.Model;

namespace SelfSpec.Tests.Model.Architectures;

/// <summary>
/// The metadata real files carry beyond the basic shape, read as llama.cpp reads it (architecture.md 3): the sliding
/// pattern as a period or as one bool per layer, RoPE scaling (type defaulting to linear, the older scale_linear key,
/// longrope, none) and LongRoPE's attention factor; malformed values are refused naming the key.
/// </summary>
public sealed class ArchitectureMetadataTests
{
    /// <summary>A metadata-only file of <paramref name="architecture"/> with <paramref name="layers"/> layers plus the given keys (without the prefix).</summary>
    private static ModelConfig Config(string architecture, int layers, params (string Key, object Value)[] keys)
    {
        var w = new GgufWriter();
        w.Add("general.architecture", architecture)
         .Add($"{architecture}.block_count", (uint)layers)
         .Add($"{architecture}.context_length", 256u)
         .Add($"{architecture}.embedding_length", 256u)
         .Add($"{architecture}.feed_forward_length", 512u)
         .Add($"{architecture}.attention.head_count", 4u)
         .Add($"{architecture}.vocab_size", 300u);
        foreach (var (key, value) in keys) w.Add($"{architecture}.{key}", value);
        using var stream = new MemoryStream();
        w.WriteTo(stream);
        string path = Path.Combine(Path.GetTempPath(), $"selfspec-meta-{Guid.NewGuid():N}.gguf");
        File.WriteAllBytes(path, stream.ToArray());
        try
        {
            using var file = GgufFile.Open(path);
            return ModelConfig.FromGguf(file);
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static bool[] Sliding(ModelConfig c) => [.. Enumerable.Range(0, c.LayerCount).Select(l => c.Recipe.Window(l) > 0)];

    [Fact]
    public void Gemma3PatternArraySaysPerLayerWhichLayersSlide()
    {
        bool[] flags = [false, true, true, false, true, true, true];
        var c = Config("gemma3", 7, ("attention.sliding_window", 8u), ("attention.sliding_window_pattern", flags));
        Assert.Equal(flags, Sliding(c));
        Assert.Equal(8, c.Recipe.Window(1));
        // Sliding layers rotate with their own tables, global ones with the model's.
        Assert.Equal(flags, Enumerable.Range(0, 7).Select(c.Recipe.UsesSlidingRope));
    }

    [Theory]
    [InlineData("gemma3", null, new[] { true, true, true, true, true, false, true, true })]   // default 6: five local, one global
    [InlineData("gemma3", 6u, new[] { true, true, true, true, true, false, true, true })]
    [InlineData("gemma3", 3u, new[] { true, true, false, true, true, false, true, true })]
    [InlineData("gemma3", 1u, new[] { false, false, false, false, false, false, false, false })] // llama.cpp: 1 means none
    [InlineData("gemma3", 0u, new[] { true, true, true, true, true, true, true, true })]         // and 0 every layer
    [InlineData("gemma2", null, new[] { true, false, true, false, true, false, true, false })]  // default 2: even layers
    public void IntegerPatternIsAPeriodAsLlamaCppReadsIt(string architecture, uint? period, bool[] expected)
    {
        var keys = new List<(string, object)> { ("attention.sliding_window", 8u) };
        if (period is uint p) keys.Add(("attention.sliding_window_pattern", p));
        Assert.Equal(expected, Sliding(Config(architecture, 8, [.. keys])));
    }

    [Fact]
    public void Gemma2AcceptsThePatternAsAnArrayToo()
    {
        bool[] flags = [true, true, false, false];
        Assert.Equal(flags, Sliding(Config("gemma2", 4, ("attention.sliding_window_pattern", flags))));
    }

    public static TheoryData<string, object, string> MalformedPatterns() => new()
    {
        { "gemma3", new[] { 1, 1, 0, 1 }, "array of Int32" },
        { "gemma3", new[] { true, true, false }, "3 entries for 4 layers" },
        { "gemma3", "6", "expected integer" },
        { "gemma3", -6, "out of range" },
        { "gemma2", new[] { true, false }, "2 entries for 4 layers" },
    };

    [Theory]
    [MemberData(nameof(MalformedPatterns))]
    public void AMalformedPatternIsRefusedNamingTheKey(string architecture, object pattern, string reason)
    {
        var e = Assert.Throws<GgufFormatException>(() =>
            Config(architecture, 4, ("attention.sliding_window", 8u), ("attention.sliding_window_pattern", pattern)));
        Assert.Contains($"{architecture}.attention.sliding_window_pattern", e.Message);
        Assert.Contains(reason, e.Message);
    }

    [Fact]
    public void AttentionFactorIsReadAndDefaultsToOne()
    {
        Assert.Equal(1f, Config("phi3", 2).RopeAttentionFactor);
        Assert.Equal(1.1902381f, Config("phi3", 2, ("rope.scaling.attn_factor", 1.1902381f)).RopeAttentionFactor);
        // llama.cpp reads the key for every architecture.
        Assert.Equal(1.5f, Config("llama", 2, ("rope.scaling.attn_factor", 1.5f)).RopeAttentionFactor);
    }

    [Theory]
    [InlineData(0f)]
    [InlineData(-1f)]
    [InlineData(float.NaN)]
    public void ANonPositiveAttentionFactorIsRefusedNamingTheKey(float factor)
    {
        var e = Assert.Throws<GgufFormatException>(() => Config("phi3", 2, ("rope.scaling.attn_factor", factor)));
        Assert.Contains("phi3.rope.scaling.attn_factor", e.Message);
    }

    [Theory]
    [InlineData(null, 4f, null, 0.25f)]        // no type: linear, as llama.cpp defaults
    [InlineData("linear", 4f, null, 0.25f)]
    [InlineData("longrope", null, null, 1f)]   // Phi-3 files may name LongRoPE; its factors are tensors
    [InlineData("none", 4f, null, 1f)]         // none never scales
    [InlineData(null, null, 2f, 0.5f)]         // the older rope.scale_linear key
    [InlineData(null, 0f, null, 1f)]           // a zero factor is none
    public void RopeScalingIsReadAsLlamaCppReadsIt(string? type, float? factor, float? oldFactor, float expectedScale)
    {
        var keys = new List<(string, object)>();
        if (type != null) keys.Add(("rope.scaling.type", type));
        if (factor is float f) keys.Add(("rope.scaling.factor", f));
        if (oldFactor is float o) keys.Add(("rope.scale_linear", o));
        Assert.Equal(expectedScale, Config("qwen3", 2, [.. keys]).RopeFreqScale);
    }

    [Fact]
    public void YarnTakesTheOriginalContextElseTheTrainingOne()
    {
        var c = Config("qwen3", 2, ("rope.scaling.type", "yarn"), ("rope.scaling.factor", 4f), ("rope.scaling.original_context_length", 64u));
        Assert.Equal((0.25f, 64), (c.RopeFreqScale, c.YarnOriginalContext));
        Assert.Equal(256, Config("qwen3", 2, ("rope.scaling.type", "yarn"), ("rope.scaling.factor", 4f)).YarnOriginalContext);
        Assert.Equal(0, Config("qwen3", 2, ("rope.scaling.type", "linear"), ("rope.scaling.factor", 4f)).YarnOriginalContext);
    }

    [Fact]
    public void UnsupportedOrMalformedRopeScalingIsRefusedNamingTheKey()
    {
        var dynamic = Assert.Throws<UnsupportedModelException>(() => Config("qwen3", 2, ("rope.scaling.type", "dynamic"), ("rope.scaling.factor", 4f)));
        Assert.Contains("qwen3.rope.scaling.type", dynamic.Message);
        Assert.Contains("dynamic", dynamic.Message);
        var negative = Assert.Throws<GgufFormatException>(() => Config("llama", 2, ("rope.scaling.factor", -2f)));
        Assert.Contains("llama.rope.scaling.factor", negative.Message);
        var swaBase = Assert.Throws<GgufFormatException>(() => Config("gemma2", 2, ("rope.freq_base_swa", 0f)));
        Assert.Contains("gemma2.rope.freq_base_swa", swaBase.Message);
    }

    [Fact]
    public void Gemma3WithAZeroWindowHasNoSlidingLayers()
    {
        var c = Config("gemma3", 6, ("attention.sliding_window", 0u));
        Assert.All(Enumerable.Range(0, 6), l => Assert.Equal(0, c.Recipe.Window(l)));
        Assert.Null(c.Recipe.SlidingRope);
    }

    [Fact]
    public void AMixtureOfExpertsFileIsRefusedAsSuch()
    {
        var e = Assert.Throws<UnsupportedModelException>(() => Config("llama", 2, ("expert_count", 8u)));
        Assert.Contains("llama.expert_count", e.Message);
        Assert.Equal(256, Config("llama", 2, ("expert_count", 0u)).EmbeddingDim);
    }

    [Fact]
    public void Gemma2SlidingLayersKeepTheModelsScalingWithTheirOwnBase()
    {
        var c = Config("gemma2", 2, ("rope.freq_base_swa", 5000f), ("rope.scaling.factor", 2f));
        Assert.Equal((5000f, 0.5f), c.Recipe.SlidingRope);
        Assert.Null(Config("gemma2", 2).Recipe.SlidingRope);
    }
}
