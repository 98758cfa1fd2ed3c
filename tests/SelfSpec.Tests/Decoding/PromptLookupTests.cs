using SelfSpec.Decoding;

namespace SelfSpec.Tests.Decoding;

public sealed class PromptLookupTests
{
    /// <summary>The plain definition: for n from maxNgram down to minNgram, the most recent earlier occurrence of the last n tokens.</summary>
    private static (int Count, int Ngram, int[] Draft) Reference(int[] sequence, int minNgram, int maxNgram, int room)
    {
        int len = sequence.Length;
        for (int n = Math.Min(maxNgram, len - 1); n >= minNgram; n--)
        {
            var tail = sequence[(len - n)..];
            for (int start = len - n - 1; start >= 0; start--)
            {
                if (!sequence.AsSpan(start, n).SequenceEqual(tail)) continue;
                int from = start + n, count = Math.Min(room, len - from);
                return (count, n, sequence[from..(from + count)]);
            }
        }
        return (0, 0, []);
    }

    [Fact]
    public void OneScanFindsWhatTheLongestFirstSearchFinds()
    {
        var rng = new Random(5);
        for (int trial = 0; trial < 20000; trial++)
        {
            int len = rng.Next(0, 40), alphabet = rng.Next(1, 6);
            var sequence = Enumerable.Range(0, len).Select(_ => rng.Next(alphabet)).ToArray();
            int min = rng.Next(1, 4), max = rng.Next(min, 9), room = rng.Next(1, 9);
            var draft = new int[room];
            var (count, ngram) = PromptLookup.Find(sequence, min, max, draft);
            var expected = Reference(sequence, min, max, room);
            Assert.True(expected.Count == count && expected.Ngram == ngram && expected.Draft.AsSpan().SequenceEqual(draft.AsSpan(0, count)),
                $"[{string.Join(",", sequence)}] {min}..{max} room {room}: got {count} of {ngram}-gram, expected {expected.Count} of {expected.Ngram}-gram");
        }
    }
}
