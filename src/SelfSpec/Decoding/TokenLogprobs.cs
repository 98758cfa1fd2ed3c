namespace SelfSpec.Decoding;

/// <summary>
/// A committed token's log-probability under the full model, and the most likely tokens at its position
/// (<see cref="GenerationOptions.TopLogprobs"/>). The values are the log-softmax of the full model's raw logits at that
/// position: before the repetition penalty, temperature and filters, as OpenAI reports them (llama.cpp's server reports
/// the same unless asked for post-sampling probabilities). Every method computes them from the verification row
/// that decided the token, which is bit-identical to plain decoding's (batch invariance), so they do not depend on
/// the method.
/// </summary>
/// <param name="Token">The committed token.</param>
/// <param name="Logprob">Its natural-log probability.</param>
/// <param name="Top">The most likely tokens at this position, most likely first (ties: lower id first); empty when none were asked for.</param>
public sealed record TokenLogprobs(int Token, float Logprob, IReadOnlyList<TopLogprob> Top);

/// <summary>One of the most likely tokens at a position and its natural-log probability.</summary>
public readonly record struct TopLogprob(int Token, float Logprob);
