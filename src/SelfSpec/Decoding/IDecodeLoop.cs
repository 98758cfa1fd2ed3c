using SelfSpec.Model;

namespace SelfSpec.Decoding;

/// <summary>
/// What a generation in progress shows its caller, however it is advanced (by its own steps, <see cref="IDecodeLoop"/>,
/// or in passes shared with other sequences, <see cref="Batching.BatchedSequence"/>).
/// </summary>
internal interface IGenerationProgress
{
    /// <summary>Tokens committed so far, in order.</summary>
    IReadOnlyList<int> Output { get; }

    /// <summary>
    /// The committed tokens' log-probabilities, one per token of <see cref="Output"/>, when the options ask for them
    /// (<see cref="GenerationOptions.TopLogprobs"/>); else empty.
    /// </summary>
    IReadOnlyList<TokenLogprobs> Logprobs { get; }

    /// <summary>The prompt followed by the committed tokens.</summary>
    IReadOnlyList<int> Tokens { get; }

    /// <summary>Why the generation ended (meaningful once it has ended).</summary>
    FinishReason Finish { get; }

    /// <summary>The statistics, completed with the timings and cost table of the generation so far.</summary>
    DecodeStats CompleteStats();
}

/// <summary>
/// One generation, advanced a round at a time so a caller can stream or stop it. The loop commits tokens; it never
/// decides what text is shown (stop sequences are the caller's).
/// </summary>
internal interface IDecodeLoop : IGenerationProgress
{
    /// <summary>Prefills the prompt past the reused prefix and commits the first token. False when generation ends there.</summary>
    bool Start();

    /// <summary>One round: draft (when the method drafts), verify, commit. False when generation ends.</summary>
    bool Step();
}

/// <summary>
/// What a decoding loop works on: the prompt, how much of it the cache already holds, the cache (owned by the caller's
/// session), and the context limit of this generation (the cache may be larger).
/// </summary>
internal readonly record struct DecodeRequest(int[] Prompt, int Reused, GenerationOptions Options, KvCache Cache, int Limit,
    Func<int, bool> IsEndOfGeneration, Func<int, bool>? OnToken = null)
{
    /// <summary>A request on a fresh cache sized exactly for it.</summary>
    public static DecodeRequest Fresh(Transformer model, int[] prompt, GenerationOptions options, Func<int, bool> isEnd, Func<int, bool>? onToken)
    {
        int limit = KvCache.CapacityFor(model.Config, prompt.Length, options.MaxTokens);
        return new DecodeRequest(prompt, 0, options, new KvCache(model.Config, limit), limit, isEnd, onToken);
    }
}

/// <summary>Runs a loop to its end.</summary>
internal static class DecodeLoops
{
    public static GenerationResult Run(IDecodeLoop loop, int[] prompt, CancellationToken cancellation)
    {
        bool go = loop.Start();
        var finish = loop.Finish;
        while (go)
        {
            if (cancellation.IsCancellationRequested) { finish = FinishReason.Cancelled; break; }
            go = loop.Step();
            finish = loop.Finish;
        }
        return new GenerationResult(prompt, [.. loop.Output], finish, loop.CompleteStats())
        {
            Logprobs = loop.Logprobs.Count > 0 ? [.. loop.Logprobs] : null,
        };
    }
}
