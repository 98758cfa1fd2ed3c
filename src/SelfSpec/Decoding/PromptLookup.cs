using System.Runtime.CompilerServices;

namespace SelfSpec.Decoding;

/// <summary>
/// Prompt lookup drafting: find the most recent earlier occurrence of the longest suffix of the sequence (up to
/// maxNgram tokens, at least minNgram) and propose the tokens that followed it.
/// </summary>
internal static class PromptLookup
{
    /// <summary>
    /// Copies up to <paramref name="draft"/>.Length continuation tokens into <paramref name="draft"/>; returns the number
    /// copied (0 when nothing matches) and the matched n-gram length.
    /// </summary>
    /// <remarks>
    /// One backward scan: every earlier position holding the last token is a candidate end of a match, extended
    /// backwards while the tokens agree (up to maxNgram). The longest wins, the most recent among equals, which is
    /// what trying n = maxNgram down to minNgram, each from the end, would pick, in one pass instead of one per n.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static (int Count, int Ngram) Find(ReadOnlySpan<int> sequence, int minNgram, int maxNgram, Span<int> draft)
    {
        int len = sequence.Length, last = len - 1;
        if (len < 2 || draft.IsEmpty) return (0, 0);
        int best = 0, bestEnd = -1;
        int token = sequence[last];
        // A match must end before the last token, so at least one token follows it.
        for (int end = len - 2; end >= 0; end--)
        {
            if (sequence[end] != token) continue;
            int m = 1;
            while (m < maxNgram && end - m >= 0 && sequence[end - m] == sequence[last - m]) m++;
            if (m <= best) continue;
            best = m;
            bestEnd = end;
            if (m == maxNgram) break;
        }
        if (best < minNgram) return (0, 0);
        int from = bestEnd + 1;
        int count = Math.Min(draft.Length, len - from);
        sequence.Slice(from, count).CopyTo(draft);
        return (count, best);
    }
}
