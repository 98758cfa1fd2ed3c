namespace SelfSpec.Decoding;

/// <summary>
/// Commits a generation's tokens with plain decoding's checks, in its order (architecture.md 5, "Committing"): end of
/// generation (the token is not output), log-probabilities (when asked for), the output and the sequence, the
/// caller's <see cref="DecodeRequest.OnToken"/>, the token budget, and a full context. Every decoding loop commits
/// through one of these, so a speculative round that commits several tokens stops exactly where plain decoding
/// would, for the same reason.
/// </summary>
/// <remarks>
/// The loop owns <paramref name="tokens"/> (the prompt, then the committed tokens; a speculative loop appends its
/// round's drafts there and removes them before committing). The committer appends each committed token to it and to
/// <see cref="Output"/>. The three loops (<c>Autoregressive</c>, <c>SelfSpeculative</c> and the scheduler's
/// <c>Batching.BatchedSequence</c>) all commit through it: the accepted drafts, then the next token.
/// </remarks>
/// <param name="request">the generation: options, end-of-generation test, OnToken, context limit</param>
/// <param name="tokens">the loop's sequence (the prompt, then committed tokens)</param>
/// <param name="vocab">the vocabulary size (for log-probabilities)</param>
internal sealed class TokenCommitter(DecodeRequest request, List<int> tokens, int vocab)
{
    private readonly GenerationOptions _options = request.Options;
    private readonly List<int> _output = new(request.Options.MaxTokens);
    private readonly LogSoftmax? _logSoftmax = request.Options.TopLogprobs != null ? new LogSoftmax(vocab) : null;
    private readonly List<TokenLogprobs> _logprobs = [];

    /// <summary>Tokens committed so far.</summary>
    public IReadOnlyList<int> Output => _output;

    /// <summary>The committed tokens' log-probabilities when the options ask for them, else empty.</summary>
    public IReadOnlyList<TokenLogprobs> Logprobs => _logprobs;

    /// <summary>Why the generation ended (meaningful once <see cref="Commit"/> returned false).</summary>
    public FinishReason Finish { get; private set; } = FinishReason.Length;

    /// <summary>Tokens the budget still allows.</summary>
    public int Remaining => _options.MaxTokens - _output.Count;

    /// <summary>
    /// Commits <paramref name="token"/>, chosen from the full model's <paramref name="logits"/> (its log-probabilities,
    /// when asked for, come from them). Returns false when generation ends (<see cref="Finish"/> says why).
    /// </summary>
    public bool Commit(int token, ReadOnlySpan<float> logits)
    {
        if (_options.StopAtEndOfGeneration && request.IsEndOfGeneration(token)) { Finish = FinishReason.EndOfGeneration; return false; }
        if (_logSoftmax != null) _logprobs.Add(_logSoftmax.Of(logits, token, _options.TopLogprobs!.Value));
        _output.Add(token);
        tokens.Add(token);
        if (request.OnToken != null && !request.OnToken(token)) { Finish = FinishReason.Cancelled; return false; }
        if (_output.Count >= _options.MaxTokens) { Finish = FinishReason.Length; return false; }
        // Plain decoding's next step computes this token's position; it stops when that lies past the context.
        if (tokens.Count - 1 >= request.Limit) { Finish = FinishReason.ContextFull; return false; }
        return true;
    }
}
