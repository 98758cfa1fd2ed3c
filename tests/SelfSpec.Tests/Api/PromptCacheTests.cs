using SelfSpec.Decoding;
using SelfSpec.Model;
using SelfSpec.Quantization;
using SelfSpec.Tokenization;

namespace SelfSpec.Tests.Api;

/// <summary>
/// The prompt cache across sessions (<see cref="ModelLoadOptions.PromptCacheBytes"/>, architecture.md 4): a prompt that
/// begins with tokens another session computed reuses their keys and values, and the output equals an uncached run's.
/// </summary>
public sealed class PromptCacheTests
{
    private const string System =
        "You are a careful assistant for a small bakery. The bakery opens at seven and closes at six, sells bread, " +
        "croissants and three kinds of cake, and takes orders by phone. Answer briefly and politely.";

    [Theory]
    [InlineData(DecodingMethod.Autoregressive, 0)]
    [InlineData(DecodingMethod.Hybrid, 0)]
    [InlineData(DecodingMethod.Hybrid, 2)]
    public void ASharedSystemPromptIsComputedOnceAndOutputsEqualUncachedRuns(DecodingMethod method, int parallel)
    {
        var options = new GenerationOptions { MaxTokens = 24, Method = method };
        List<ChatMessage> Ask(string q) => [new("system", System), new("user", q)];
        int[] first, second, third;
        GenerationResult[] uncached;
        using (var plain = LanguageModel.Load(TestModels.Bundled, threads: 2))
        {
            first = plain.TokenizeChat(Ask("When do you open?"));
            second = plain.TokenizeChat(Ask("Do you sell cakes?"));
            var turn = Ask("When do you open?");
            turn.Add(new("assistant", plain.Generate(first, options).Text));
            turn.Add(new("user", "And when do you close?"));
            third = plain.TokenizeChat(turn);
            uncached = [plain.Generate(first, options), plain.Generate(second, options), plain.Generate(third, options)];
        }

        using var lm = LanguageModel.Load(TestModels.Bundled, new ModelLoadOptions { Threads = 2, Parallel = parallel, PromptCacheBytes = 256L << 20 });
        var a = lm.CreateSession().Generate(first, options);
        Assert.Equal(0, a.Stats.CachedPromptTokens);
        Assert.Equal(uncached[0].OutputTokens, a.OutputTokens);

        // Another session, another question after the same system prompt: the shared beginning is not computed again.
        var b = lm.CreateSession().Generate(second, options);
        int shared = first.AsSpan().CommonPrefixLength(second);
        Assert.True(shared >= 40, $"the prompts share only {shared} tokens");
        Assert.Equal(shared, b.Stats.CachedPromptTokens);
        Assert.Equal(uncached[1].OutputTokens, b.OutputTokens);

        // The first conversation's next turn, served by a new session: only the new tokens are computed.
        var c = lm.CreateSession().Generate(third, options);
        // The first session holds keys and values of its prompt and output but the last output token (never fed back).
        int held = third.AsSpan().CommonPrefixLength([.. a.PromptTokens, .. a.OutputTokens.SkipLast(1)]);
        Assert.True(held > first.Length - 2, $"the next turn shares only {held} tokens with the first turn");
        Assert.Equal(Math.Min(held, third.Length - 1), c.Stats.CachedPromptTokens);
        Assert.Equal(uncached[2].OutputTokens, c.OutputTokens);
    }

    [Fact]
    public void EntriesAreBoundedInBytesLeastRecentlyUsedFirstOut()
    {
        string dir = TinyModels.TempDirectory();
        try
        {
            using var h = new Model.ModelHarness(TinyModels.Write(dir, GgmlType.Q8_0, seed: 5), threads: 1);
            var rng = new Random(3);
            int[][] prompts = Enumerable.Range(0, 3).Select(_ => Enumerable.Range(0, 40).Select(_ => rng.Next(0, 256)).ToArray()).ToArray();
            var caches = prompts.Select(p => Computed(h, p)).ToArray();
            long entry = caches[0].Snapshot(h.Config, 40).ByteSize;
            var pc = new PromptCache(h.Config, 2 * entry + entry / 2); // room for two entries
            pc.Store(prompts[0], caches[0], 40);
            pc.Store(prompts[1], caches[1], 40);
            Assert.Equal(2, pc.Count);
            // Using the first makes the second the least recently used: the third entry evicts it.
            var target = new KvCache(h.Config, 64);
            Assert.Equal(39, pc.Restore(prompts[0], target, 0));
            pc.Store(prompts[2], caches[2], 40);
            Assert.Equal(2, pc.Count);
            Assert.True(pc.Bytes <= pc.CapacityBytes);
            Assert.Equal(0, pc.Restore(prompts[1], new KvCache(h.Config, 64), 0));
            Assert.Equal(39, pc.Restore(prompts[2], new KvCache(h.Config, 64), 0));
            // A prefix shorter than the minimum, or one the target already holds, is not taken.
            Assert.Equal(10, pc.Restore([.. prompts[0].Take(10), 1, 2, 3], new KvCache(h.Config, 64), 10));
            Assert.Equal(39, pc.Restore(prompts[0], new KvCache(h.Config, 64), 39));
            // The restored keys and values are the computed ones, bit for bit.
            Assert.True(target.Keys.Zip(caches[0].Keys).All(p => p.First.AsSpan(0, 16).SequenceEqual(p.Second.AsSpan(0, 16))));
            // Larger than the whole cache: not kept.
            var small = new PromptCache(h.Config, entry / 2);
            small.Store(prompts[0], caches[0], 40);
            Assert.Equal(0, small.Count);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static KvCache Computed(Model.ModelHarness h, int[] tokens)
    {
        var cache = new KvCache(h.Config, 64);
        var hidden = new float[tokens.Length * h.Config.EmbeddingDim];
        h.Transformer.Embed(tokens, hidden);
        h.Transformer.Forward(Enumerable.Range(0, tokens.Length).ToArray(), hidden, 0, h.Config.LayerCount, cache);
        cache.Commit(tokens.Length);
        return cache;
    }
}
