using SelfSpec.Decoding;

namespace SelfSpec.Tests.Decoding;

public sealed class PromptLookupTests
{
    /// <summary>
    /// The plain definition: for n from maxNgram down to minNgram, the most recent earlier occurrence of the last n
    /// tokens; the agreement from the tokens that follow every earlier occurrence of those n tokens.
    /// </summary>
    private static (int Count, int Ngram, MatchAgreement Agreement, int[] Draft) Reference(int[] sequence, int minNgram, int maxNgram, int room)
    {
        int len = sequence.Length;
        for (int n = Math.Min(maxNgram, len - 1); n >= minNgram; n--)
        {
            var tail = sequence[(len - n)..];
            var followers = new List<int>(); // the token after each occurrence, most recent first
            for (int start = len - n - 1; start >= 0; start--)
                if (sequence.AsSpan(start, n).SequenceEqual(tail)) followers.Add(sequence[start + n]);
            if (followers.Count == 0) continue;
            int from = len - n - 1;
            while (!sequence.AsSpan(from, n).SequenceEqual(tail)) from--;
            from += n;
            int count = Math.Min(room, len - from);
            var agreement = followers.Count == 1 ? MatchAgreement.Single
                : followers.All(f => f == followers[0]) ? MatchAgreement.Agreed : MatchAgreement.Split;
            return (count, n, agreement, sequence[from..(from + count)]);
        }
        return (0, 0, MatchAgreement.Single, []);
    }

    [Fact]
    public void OneScanFindsWhatTheLongestFirstSearchFindsAndHowItsOccurrencesContinue()
    {
        var rng = new Random(5);
        var seen = new HashSet<MatchAgreement>();
        for (int trial = 0; trial < 20000; trial++)
        {
            int len = rng.Next(0, 40), alphabet = rng.Next(1, 6);
            var sequence = Enumerable.Range(0, len).Select(_ => rng.Next(alphabet)).ToArray();
            int min = rng.Next(1, 4), max = rng.Next(min, 9), room = rng.Next(1, 9);
            var draft = new int[room];
            var (count, ngram, agreement) = PromptLookup.Find(sequence, min, max, draft);
            var expected = Reference(sequence, min, max, room);
            Assert.True(expected.Count == count && expected.Ngram == ngram && expected.Draft.AsSpan().SequenceEqual(draft.AsSpan(0, count))
                && (count == 0 || expected.Agreement == agreement),
                $"[{string.Join(",", sequence)}] {min}..{max} room {room}: got {count} of {ngram}-gram ({agreement}), expected {expected.Count} of {expected.Ngram}-gram ({expected.Agreement})");
            if (count > 0) seen.Add(agreement);
        }
        Assert.Equal(3, seen.Count); // every class came up
    }
}
