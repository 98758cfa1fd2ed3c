namespace SelfSpec.Decoding;

/// <summary>
/// Prompt lookup drafting: find the most recent earlier occurrence of the sequence's last n tokens (n from the
/// longest down to the shortest) and propose the tokens that followed it.
/// </summary>
internal static class PromptLookup
{
    /// <summary>
    /// Copies up to <paramref name="draft"/>.Length continuation tokens into <paramref name="draft"/>; returns the number
    /// copied (0 when nothing matches) and the matched n-gram length.
    /// </summary>
    public static (int Count, int Ngram) Find(ReadOnlySpan<int> sequence, int minNgram, int maxNgram, Span<int> draft)
    {
        int len = sequence.Length;
        for (int n = Math.Min(maxNgram, len - 1); n >= minNgram; n--)
        {
            var tail = sequence[(len - n)..];
            // The match must end before the tail itself starts repeating, and leave at least one token to copy.
            for (int start = len - n - 1; start >= 0; start--)
            {
                if (!sequence.Slice(start, n).SequenceEqual(tail)) continue;
                int from = start + n;
                int count = Math.Min(draft.Length, len - from);
                sequence.Slice(from, count).CopyTo(draft);
                return (count, n);
            }
        }
        return (0, 0);
    }
}
