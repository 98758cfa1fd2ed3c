using System.Runtime.CompilerServices;

namespace SelfSpec.Decoding;

/// <summary>
/// An immutable array of the model's earlier output (generations separated by <see cref="Separator"/>), searched by
/// suffix the way prompt lookup searches the sequence (architecture.md 5, the datastore): the longest match of the
/// sequence's last tokens, the most recent among equals, proposes the tokens that followed it. Short stores (one
/// answer) are scanned; long ones (a calibration run's generations) are indexed by token, so a search reads only
/// the places where the sequence's last token occurs.
/// </summary>
internal sealed class TokenStore
{
    /// <summary>Ends a generation: no match extends across it and no copy runs past it.</summary>
    public const int Separator = -1;
    /// <summary>Stores at least this long are indexed by token.</summary>
    public const int IndexedFrom = 2048;
    /// <summary>Most occurrences of the last token one search examines (the most recent), so a search stays cheap.</summary>
    public const int MaxCandidates = 256;

    private readonly int[] _tokens;
    private readonly int[]? _start; // by token t: its occurrences are _at[_start[t].._start[t + 1]], ascending
    private readonly int[]? _at;

    /// <param name="tokens">token ids in 0..vocab-1 or <see cref="Separator"/> (checked)</param>
    public TokenStore(int[] tokens, int vocab)
    {
        foreach (int t in tokens)
            if (t != Separator && (uint)t >= (uint)vocab) throw new ArgumentOutOfRangeException(nameof(tokens), $"token id {t} is outside the vocabulary (0..{vocab - 1})");
        _tokens = tokens;
        if (tokens.Length < IndexedFrom) return;
        _start = new int[vocab + 1];
        foreach (int t in tokens)
            if (t != Separator) _start[t + 1]++;
        for (int t = 0; t < vocab; t++) _start[t + 1] += _start[t];
        _at = new int[_start[vocab]];
        var fill = _start.AsSpan(0, vocab).ToArray();
        for (int i = 0; i < tokens.Length; i++)
            if (tokens[i] != Separator) _at[fill[tokens[i]]++] = i;
    }

    public int Length => _tokens.Length;

    /// <summary>Generations joined into one store's tokens, each ended by <see cref="Separator"/>.</summary>
    public static int[] Join(IEnumerable<int[]> generations)
    {
        var all = new List<int>();
        foreach (var g in generations)
        {
            if (g.Length < 2) continue;
            all.AddRange(g);
            all.Add(Separator);
        }
        return [.. all];
    }

    public ReadOnlySpan<int> Tokens => _tokens;

    /// <summary>
    /// The longest match (up to <paramref name="maxNgram"/> tokens) of the end of <paramref name="sequence"/> that some
    /// token follows in the store; copies up to <paramref name="draft"/>.Length of the tokens after it (up to the end of
    /// its generation). Returns the number copied (0 when nothing matches) and the match's length.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public (int Count, int Ngram) Find(ReadOnlySpan<int> sequence, int maxNgram, Span<int> draft)
    {
        if (sequence.IsEmpty || draft.IsEmpty || _tokens.Length < 2) return (0, 0);
        int last = sequence.Length - 1, token = sequence[last];
        int best = 0, bestEnd = -1;
        if (_start == null)
        {
            for (int end = _tokens.Length - 2; end >= 0; end--)
                if (_tokens[end] == token && Better(end, sequence, maxNgram, ref best, ref bestEnd)) break;
        }
        else if ((uint)token < (uint)(_start.Length - 1))
        {
            int lo = _start[token], hi = _start[token + 1];
            for (int i = hi - 1, seen = 0; i >= lo && seen < MaxCandidates; i--, seen++)
            {
                int end = _at![i];
                if (end < _tokens.Length - 1 && Better(end, sequence, maxNgram, ref best, ref bestEnd)) break;
            }
        }
        if (best == 0) return (0, 0);
        int from = bestEnd + 1, count = 0;
        while (count < draft.Length && from + count < _tokens.Length && _tokens[from + count] != Separator)
        {
            draft[count] = _tokens[from + count];
            count++;
        }
        return count == 0 ? (0, 0) : (count, best);
    }

    /// <summary>Measures the match ending at <paramref name="end"/>; true when it reaches maxNgram (the search can stop).</summary>
    private bool Better(int end, ReadOnlySpan<int> sequence, int maxNgram, ref int best, ref int bestEnd)
    {
        if (_tokens[end + 1] == Separator) return false; // nothing follows it
        int last = sequence.Length - 1, m = 1;
        while (m < maxNgram && end - m >= 0 && last - m >= 0 && _tokens[end - m] == sequence[last - m]) m++;
        if (m <= best) return false;
        best = m;
        bestEnd = end;
        return m >= maxNgram;
    }
}
