namespace SelfSpec.Decoding;

/// <summary>
/// One step of a streamed generation. Each committed token comes as one update with <see cref="Token"/> set and the
/// text it made visible (possibly empty: a character still incomplete, or text that may begin a stop sequence). The
/// last update of every stream has no token and carries the <see cref="Result"/>, with any text released at the end.
/// </summary>
/// <param name="Text">Text made visible by this update; the concatenation over a stream is the result's text.</param>
/// <param name="Token">The committed token, or null on the final update.</param>
/// <param name="Result">The finished generation, on the final update only.</param>
/// <param name="Logprobs">The token's log-probabilities when <see cref="GenerationOptions.TopLogprobs"/> asked for them; else null.</param>
public readonly record struct GenerationUpdate(string Text, int? Token, GenerationResult? Result, TokenLogprobs? Logprobs = null);
