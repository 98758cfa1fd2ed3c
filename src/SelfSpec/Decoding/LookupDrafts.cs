using System.Runtime.InteropServices;

namespace SelfSpec.Decoding;

/// <summary>
/// Prompt lookup: copies the continuation of the latest earlier occurrence of the sequence's last n-gram. A copy
/// proposes its tokens one by one (q is one-hot); the bound prices first and follow-on drafts by n-gram length.
/// </summary>
internal sealed class LookupDrafts(RoundRows rows, PriceBound bound, SpeculationOptions spec, int minNgram, bool[] oneHot, int maxRows) : IDraftSource
{
    private readonly int[] _copy = new int[maxRows];   // the current copy
    private readonly int[] _ngram = new int[maxRows];  // by row: the n-gram length of the draft after it
    private readonly bool[] _follows = new bool[maxRows]; // by row: the draft after it continues the previous copy
    private int _copied, _next, _copyNgram;

    public void BeginRound() => _copied = _next = 0;

    public int Propose(int k, int rowLimit, out int source)
    {
        source = DraftSources.Lookup;
        if (_next >= _copied)
        {
            (_copied, _copyNgram) = PromptLookup.Find(CollectionsMarshal.AsSpan(rows.Tokens), spec.LookupMinNgram, spec.LookupMaxNgram,
                _copy.AsSpan(0, rowLimit - rows.Count));
            _next = 0;
        }
        if (_next >= _copied || _copyNgram < minNgram)
        {
            _copied = _next = 0;
            return DraftSources.None;
        }
        bool follows = _next > 0;
        if (spec.PriceBound && !bound.LookupDraftWorthIt(_copyNgram, follows, rows.Depth(k))) return DraftSources.Stop;
        bound.AddLookupDraft(_copyNgram, follows, rows.Depth(k));
        _ngram[k] = _copyNgram;
        _follows[k] = follows;
        oneHot[k] = true;
        return _copy[_next++];
    }

    public void Observe(int k, bool accepted) => bound.ObserveLookupDraft(_ngram[k], _follows[k], accepted);
}
