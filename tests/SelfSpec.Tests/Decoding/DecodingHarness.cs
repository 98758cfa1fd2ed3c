using SelfSpec.Decoding;
using SelfSpec.Model;
using SelfSpec.Sampling;
using SelfSpec.Tests.Model;

namespace SelfSpec.Tests.Decoding;

/// <summary>Runs the decoders on a model's transformer directly, with a chosen end-of-generation predicate.</summary>
internal static class DecodingHarness
{
    /// <summary>Drafting forced on: no price bound, every exit fires (tau 0), lookup on any match.</summary>
    public static readonly SpeculationOptions Forced = new() { PriceBound = false, Tau = 0f, LookupMinNgram = 1, HybridMinNgram = 1 };

    public static GenerationResult Run(ModelHarness h, DecodingMethod method, int[] prompt, int maxTokens,
        SpeculationOptions? spec = null, SamplingOptions? sampling = null, Func<int, bool>? isEnd = null, TokenStore[]? datastore = null)
    {
        var options = new GenerationOptions
        {
            Method = method,
            MaxTokens = maxTokens,
            Speculation = spec ?? SpeculationOptions.Default,
            Sampling = sampling ?? SamplingOptions.Greedy,
        };
        isEnd ??= t => t == h.Config.VocabSize - 1;
        return method == DecodingMethod.Autoregressive
            ? new Autoregressive(h.Transformer).Generate(prompt, options, isEnd, null, default)
            : new SelfSpeculative(h.Transformer, datastore: datastore).Generate(prompt, options, isEnd, null, default);
    }

    /// <summary>The full model's logits (vocab) at the last position of <paramref name="tokens"/>, computed from scratch.</summary>
    public static float[] LastLogits(ModelHarness h, int[] tokens)
    {
        var c = h.Config;
        var t = h.Transformer;
        var cache = new KvCache(c, tokens.Length);
        var hidden = new float[tokens.Length * c.EmbeddingDim];
        var positions = Enumerable.Range(0, tokens.Length).ToArray();
        t.Embed(tokens, hidden);
        t.Forward(positions, hidden, 0, c.LayerCount, cache);
        var logits = new float[c.VocabSize];
        t.FinalLogits(hidden.AsSpan((tokens.Length - 1) * c.EmbeddingDim, c.EmbeddingDim), 1, logits);
        return logits;
    }
}
