using System.Runtime.InteropServices;

namespace SelfSpec.Decoding;

/// <summary>
/// Prompt lookup and the datastore (architecture.md 5): copies the continuation of the longest match of the
/// sequence's last tokens, found in the sequence itself (prompt and output) or in the model's earlier output
/// (<see cref="TokenStore"/>s); the sequence wins ties, being the closer context. A copy proposes its tokens one by
/// one (q is one-hot); the bound plans how many to take by where the copy came from and its match length, with
/// acceptance measured per match length, first and follow-on drafts apart, so a long match drafts further; a copy
/// from the sequence is priced too by whether the match's earlier occurrences continued alike (<see cref="MatchAgreement"/>).
/// </summary>
internal sealed class LookupDrafts(RoundRows rows, PriceBound bound, SpeculationOptions spec, int minNgram, bool[] oneHot, int maxRows,
    TokenStore[] datastore, int datastoreCounter) : IDraftSource
{
    private readonly int[] _copy = new int[maxRows];   // the current copy
    private readonly int[] _found = new int[maxRows];  // a datastore candidate
    private readonly int[] _ngram = new int[maxRows];  // by row: the n-gram length of the draft after it
    private readonly bool[] _follows = new bool[maxRows]; // by row: the draft after it continues the previous copy
    private readonly bool[] _stored = new bool[maxRows];  // by row: the draft after it came from the datastore
    private readonly MatchAgreement[] _agreement = new MatchAgreement[maxRows]; // by row: the copy's agreement
    private int _copied, _next, _copyNgram, _planned;
    private bool _fromStore;
    private MatchAgreement _copyAgreement;

    public void BeginRound() => _copied = _next = 0;

    public int Propose(int k, int rowLimit, out int source)
    {
        if (_next >= _copied) Refill(rowLimit - rows.Count);
        source = _fromStore ? datastoreCounter : DraftSources.Lookup;
        if (_next >= _copied || _copyNgram < minNgram)
        {
            _copied = _next = 0;
            return DraftSources.None;
        }
        bool follows = _next > 0;
        if (!follows)
        {
            // The bound plans the copy's length from its match length's measured acceptance (first and follow-on
            // drafts); a declined copy leaves the row to the next source (hybrid's exit; the copy is dropped, as a
            // draft from there would make it stale); one declined check a while is taken anyway, as before, so
            // estimates can recover.
            _planned = spec.PriceBound ? bound.LookupCopyLength(_fromStore, _copyNgram, Math.Min(_copied, rowLimit - rows.Count), rows.Depth(k), _copyAgreement) : _copied;
            if (_planned == 0)
            {
                _copied = _next = 0;
                return DraftSources.None;
            }
        }
        else if (_next >= _planned) return DraftSources.Stop; // the rest of the copy does not pay
        bound.AddLookupDraft(_fromStore, _copyNgram, follows, rows.Depth(k), _copyAgreement);
        _ngram[k] = _copyNgram;
        _agreement[k] = _copyAgreement;
        _follows[k] = follows;
        _stored[k] = _fromStore;
        oneHot[k] = true;
        return _copy[_next++];
    }

    private void Refill(int room)
    {
        (_copied, _copyNgram, _fromStore, _copyAgreement) = FindCopy(CollectionsMarshal.AsSpan(rows.Tokens), datastore, spec, minNgram, _copy.AsSpan(0, room), _found);
        _next = 0;
    }

    /// <summary>
    /// The copy to draft from: the longest match of the sequence's last tokens in the sequence itself, then in each
    /// store (newest first), a longer match replacing it (one of at least <paramref name="storeMinNgram"/> tokens).
    /// Copies up to <paramref name="copy"/>.Length tokens into it (<paramref name="found"/>: scratch as long); returns
    /// their count (0: no match), the match length, whether it came from a store, and how the sequence's earlier
    /// occurrences continued. The one search of the plain loop's lookup and of a batched sequence's.
    /// </summary>
    public static (int Count, int Ngram, bool FromStore, MatchAgreement Agreement) FindCopy(ReadOnlySpan<int> sequence, TokenStore[] stores,
        SpeculationOptions spec, int storeMinNgram, Span<int> copy, Span<int> found)
    {
        var (count, ngram, agreement) = PromptLookup.Find(sequence, spec.LookupMinNgram, spec.LookupMaxNgram, copy);
        bool fromStore = false;
        foreach (var store in stores)
        {
            if (ngram >= spec.LookupMaxNgram) break;
            var (n, length) = store.Find(sequence, spec.LookupMaxNgram, found[..copy.Length]);
            if (n == 0 || length <= ngram || length < storeMinNgram) continue;
            found[..n].CopyTo(copy);
            (count, ngram, fromStore, agreement) = (n, length, true, MatchAgreement.Single);
        }
        return (count, ngram, fromStore, agreement);
    }

    public void Observe(int k, bool accepted) => bound.ObserveLookupDraft(_stored[k], _ngram[k], _follows[k], accepted, _agreement[k]);
}
