using SelfSpec.Decoding;

namespace SelfSpec.Tests.Decoding;

public sealed class TokenStoreTests
{
    /// <summary>
    /// The plain definition: for n from maxNgram down to 1, the most recent place in the store where the sequence's last n
    /// tokens occur, inside one generation, with a token of the same generation after it; the copy stops at the separator.
    /// </summary>
    private static (int Count, int Ngram, int[] Draft) Reference(int[] store, int[] sequence, int maxNgram, int room)
    {
        int len = sequence.Length;
        for (int n = Math.Min(maxNgram, len); n >= 1; n--)
        {
            var tail = sequence[(len - n)..];
            for (int start = store.Length - n - 1; start >= 0; start--)
            {
                if (!store.AsSpan(start, n).SequenceEqual(tail) || store[start + n] == TokenStore.Separator) continue;
                var draft = store.Skip(start + n).TakeWhile(t => t != TokenStore.Separator).Take(room).ToArray();
                return (draft.Length, n, draft);
            }
        }
        return (0, 0, []);
    }

    [Theory]
    [InlineData(60, 40000)]    // scanned
    [InlineData(5000, 3000)]   // indexed by token (above TokenStore.IndexedFrom)
    public void FindsTheLongestMostRecentMatch(int storeLength, int trials)
    {
        var rng = new Random(storeLength);
        for (int trial = 0; trial < trials; trial++)
        {
            int alphabet = rng.Next(2, 7), vocab = 8;
            // Separators now and then: matches must not cross them and copies must stop at them.
            var store = Enumerable.Range(0, rng.Next(storeLength / 2, storeLength + 1))
                .Select(_ => rng.Next(12) == 0 ? TokenStore.Separator : rng.Next(alphabet)).ToArray();
            var ts = new TokenStore(store, vocab);
            var sequence = Enumerable.Range(0, rng.Next(1, 12)).Select(_ => rng.Next(alphabet)).ToArray();
            int max = rng.Next(1, 9), room = rng.Next(1, 9);
            var draft = new int[room];
            var (count, ngram) = ts.Find(sequence, max, draft);
            var expected = Reference(store, sequence, max, room);
            // The indexed search examines only the latest MaxCandidates occurrences: there it may settle for a shorter match.
            if (storeLength >= TokenStore.IndexedFrom && count > 0 && ngram < expected.Ngram) continue;
            Assert.True(expected.Count == count && expected.Ngram == ngram && expected.Draft.AsSpan().SequenceEqual(draft.AsSpan(0, count)),
                $"store {store.Length} [{string.Join(",", sequence)}] max {max} room {room}: got {count} of {ngram}-gram, expected {expected.Count} of {expected.Ngram}-gram");
        }
    }

    [Fact]
    public void IndexedAndScannedStoresAgreeWhenFewCandidates()
    {
        // Every token occurs far fewer than MaxCandidates times, so the index sees every candidate the scan sees.
        var rng = new Random(9);
        int vocab = 200;
        var store = Enumerable.Range(0, TokenStore.IndexedFrom + 500).Select(_ => rng.Next(15) == 0 ? TokenStore.Separator : rng.Next(vocab)).ToArray();
        var indexed = new TokenStore(store, vocab);
        for (int trial = 0; trial < 2000; trial++)
        {
            int at = rng.Next(3, store.Length);
            var sequence = store[(at - 3)..at].Select(t => t == TokenStore.Separator ? 0 : t).ToArray();
            var draft = new int[6];
            var (count, ngram) = indexed.Find(sequence, 3, draft);
            var expected = Reference(store, sequence, 3, 6);
            Assert.Equal((expected.Count, expected.Ngram), (count, ngram));
            Assert.Equal(expected.Draft, draft[..count]);
        }
    }

    [Fact]
    public void RejectsTokensOutsideTheVocabulary()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new TokenStore([1, 2, 9], 8));
        Assert.Throws<ArgumentOutOfRangeException>(() => new TokenStore([1, -2, 3], 8));
    }

    [Fact]
    public void TheDatastoreKeepsTheNewestAnswersFirstAndTheCalibrationLast()
    {
        var d = new Datastore(vocab: 10, capacity: 2);
        d.SetCalibration([1, 2, 3, TokenStore.Separator]);
        d.Add([4, 5]);
        d.Add([6, 7]);
        d.Add([8, 9]);
        d.Add([3]); // too short to hold a match: not kept
        Assert.Equal([[8, 9], [6, 7], [1, 2, 3, TokenStore.Separator]], d.Snapshot.Select(s => s.Tokens.ToArray()));
        d.Recording = false;
        d.Remember([1, 1]);
        Assert.Equal(3, d.Snapshot.Length);
        var before = d.Snapshot;
        d.ClearAnswers();
        Assert.Single(d.Snapshot);
        Assert.Equal(3, before.Length); // a snapshot taken earlier is not changed
        Assert.Empty(new Datastore(10, 0).Snapshot);
    }
}
