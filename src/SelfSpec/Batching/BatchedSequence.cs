using System.Diagnostics;
using System.Runtime.InteropServices;
using SelfSpec.Decoding;
using SelfSpec.Model;
using SelfSpec.Sampling;

namespace SelfSpec.Batching;

/// <summary>
/// One generation advanced in passes shared with other sequences (architecture.md 4): each pass it brings rows
/// (<see cref="Plan"/>) and then reads their logits (<see cref="Complete"/>). While prefilling, its rows are the next
/// chunk of the prompt; after that, the last committed token and, when its method drafts by prompt lookup, the
/// drafts as extra rows, verified in the same pass. Lookup copies from the sequence or the datastore (the model's
/// earlier answers) by the plain loop's search (<see cref="LookupDrafts.FindCopy"/>). The price bound prices a draft at the marginal cost of one more
/// row in the pass as it stands, so under load a sequence drafts less.
///
/// Decisions are the plain loops': the same sampler and <see cref="Verifier"/>, consulted in the same order, on logits
/// that batch invariance makes bit-identical to a solo run's. So greedy output equals <c>ar</c>'s whatever shares the
/// pass, and sampled output equals the same request alone when the rounds are the same (always for <c>ar</c>).
/// Early-exit drafting is not done in shared passes: <c>specbound</c> and <c>static</c> decode plainly, <c>hybrid</c>
/// drafts by lookup only.
/// </summary>
internal sealed class BatchedSequence : IGenerationProgress
{
    private readonly Transformer _m;
    private readonly DecodeRequest _r;
    private readonly GenerationOptions _options;
    private readonly SpeculationOptions _spec;
    private readonly KvCache _cache;
    private readonly Sampler _sampler;
    private readonly Verifier _verifier;
    private readonly PriceBound _bound;
    private readonly DecodeCosts _costs;
    private readonly DecodeStats _stats;
    private readonly int _layers, _maxRows, _minNgram;
    private readonly int[] _copy, _found;
    private readonly TokenStore[] _datastore;
    private readonly bool[] _oneHot;
    private readonly List<int> _tokens;
    private readonly TokenCommitter _commit; // plain decoding's checks for every committed token
    private int _prefilled;           // prompt positions computed
    private int _firstRow, _rows;     // this sequence's rows in the current pass
    private int _ngram;               // n-gram length of this round's lookup copy
    private bool _fromStore;          // this round's copy came from the datastore
    private MatchAgreement _agreement; // how the copy's match continued before

    /// <param name="datastore">the model's earlier output searched by lookup (a snapshot taken as the generation starts), or null for none</param>
    public BatchedSequence(Transformer model, DecodeCosts costs, DecodeRequest request, DraftRates? rates = null, TokenStore[]? datastore = null)
    {
        _m = model;
        _r = request;
        _options = request.Options;
        _spec = _options.Speculation ?? SpeculationOptions.Default;
        _cache = request.Cache;
        _costs = costs;
        _layers = model.Config.LayerCount;
        _minNgram = _options.Method switch
        {
            DecodingMethod.Lookup => _spec.LookupMinNgram,
            DecodingMethod.Hybrid => _spec.HybridMinNgram,
            _ => 0, // no drafts
        };
        _maxRows = _minNgram > 0 ? Math.Min(model.MaxBatch, _spec.MaxDrafts + 1) : 1;
        _sampler = new Sampler(_options.Sampling, model.Config.VocabSize);
        _verifier = new Verifier(_sampler, _spec.Acceptance, model.Config.VocabSize);
        _bound = new PriceBound(_layers, _spec.Tau, costs, learned: rates);
        _stats = new DecodeStats { Method = _options.Method, PromptTokens = request.Prompt.Length, PrefillTokens = request.Prompt.Length - request.Reused };
        _copy = new int[_maxRows];
        _found = new int[_maxRows];
        _datastore = datastore ?? [];
        _oneHot = new bool[_maxRows];
        _tokens = new List<int>(request.Prompt.Length + _options.MaxTokens + _maxRows);
        _tokens.AddRange(request.Prompt);
        _commit = new TokenCommitter(request, _tokens, model.Config.VocabSize);
        _prefilled = request.Reused;
        _cache.Truncate(request.Reused);
    }

    public IReadOnlyList<int> Output => _commit.Output;
    public IReadOnlyList<TokenLogprobs> Logprobs => _commit.Logprobs;
    public IReadOnlyList<int> Tokens => _tokens;
    public FinishReason Finish => _commit.Finish;
    /// <summary>Whether the prompt is still being computed.</summary>
    public bool Prefilling => _prefilled < _r.Prompt.Length;
    /// <summary>The most rows a decoding round of this sequence brings (1 + drafts).</summary>
    public int MaxRows => _maxRows;

    /// <summary>
    /// Adds this sequence's rows to the pass, at most <paramref name="budget"/> (at least 1), given that other
    /// sequences (<paramref name="otherSequences"/> of them) bring <paramref name="otherRows"/> rows
    /// (<paramref name="otherHeadRows"/> of them with logits).
    /// </summary>
    public int Plan(SharedPass pass, int budget, int otherRows, int otherHeadRows, int otherSequences = 0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(budget, 1);
        _firstRow = pass.Rows;
        var prompt = _r.Prompt;
        if (Prefilling)
        {
            int n = Math.Min(budget, prompt.Length - _prefilled);
            for (int i = 0; i < n; i++)
            {
                int position = _prefilled + i;
                pass.Add(prompt[position], position, _cache, logits: position == prompt.Length - 1);
            }
            return _rows = n;
        }
        int p = _tokens.Count - 1; // position of the last committed token
        Debug.Assert(_cache.Length == p);
        int rowLimit = Math.Min(Math.Min(_maxRows, budget), Math.Min(_r.Limit - p, _commit.Remaining));
        int drafts = rowLimit > 1 ? Draft(rowLimit - 1, otherRows, otherHeadRows, otherSequences) : 0;
        pass.Add(_tokens[p], p, _cache, logits: true);
        for (int i = 0; i < drafts; i++)
        {
            pass.Add(_copy[i], p + 1 + i, _cache, logits: true);
            _tokens.Add(_copy[i]);
        }
        return _rows = 1 + drafts;
    }

    /// <summary>Prompt lookup drafts (into _copy) that the price bound accepts at this pass's size.</summary>
    private int Draft(int most, int otherRows, int otherHeadRows, int otherSequences)
    {
        _bound.Round = _stats.Rounds;
        _bound.BeginRound(otherRows, otherHeadRows, otherSequences);
        var (copied, ngram, fromStore, agreement) = LookupDrafts.FindCopy(CollectionsMarshal.AsSpan(_tokens), _datastore, _spec, _minNgram,
            _copy.AsSpan(0, most), _found);
        _ngram = ngram;
        _fromStore = fromStore;
        _agreement = agreement;
        if (copied == 0 || ngram < _minNgram) return 0;
        // The copy is judged whole, as the plain loop's lookup judges it (architecture.md 5): the length that gives the
        // pass the most expected tokens per second, if that beats the pass without it; else its first draft alone if
        // that pays (or is explored). Judged draft by draft instead, a short match's first draft seldom paid alone
        // though the follow-ons it makes likely would, and one sequence drafted less here than alone.
        int drafts = _spec.PriceBound ? _bound.LookupCopyLength(fromStore, ngram, copied, 0, agreement) : copied;
        for (int i = 0; i < drafts; i++)
        {
            _bound.AddLookupDraft(fromStore, ngram, follows: i > 0, 0, agreement);
            _oneHot[i] = true;
        }
        return drafts;
    }

    /// <summary>Reads this sequence's logits from the pass and commits what they decide. False when the generation ends.</summary>
    public bool Complete(SharedPass pass)
    {
        var prompt = _r.Prompt;
        if (Prefilling)
        {
            _prefilled += _rows;
            _cache.Commit(_prefilled);
            _stats.PrefillSeconds += pass.Seconds;
            if (Prefilling) return true;
            if (_options.MaxTokens == 0) return false;
            long t0 = Stopwatch.GetTimestamp();
            var firstRow = pass.Logits(_firstRow + _rows - 1, 1);
            int first = _sampler.Sample(firstRow, CollectionsMarshal.AsSpan(_tokens));
            _stats.SamplingSeconds += Stopwatch.GetElapsedTime(t0).TotalSeconds;
            return _commit.Commit(first, firstRow);
        }
        int drafts = _rows - 1, p = _tokens.Count - 1 - drafts;
        long t1 = Stopwatch.GetTimestamp();
        var (accepted, next) = _verifier.Accept(pass.Logits(_firstRow, _rows), drafts, CollectionsMarshal.AsSpan(_tokens), p + 1, [], _oneHot);
        _stats.SamplingSeconds += Stopwatch.GetElapsedTime(t1).TotalSeconds;
        for (int i = 0; i < drafts && i <= accepted; i++) _bound.ObserveLookupDraft(_fromStore, _ngram, i > 0, i < accepted, _agreement);
        Span<int> committed = stackalloc int[drafts];
        CollectionsMarshal.AsSpan(_tokens).Slice(p + 1, drafts).CopyTo(committed);
        _tokens.RemoveRange(p + 1, drafts);
        _cache.Commit(p + 1 + accepted);
        _stats.Rounds++;
        _stats.Drafted += drafts;
        _stats.Accepted += accepted;
        _stats.LayerRows += (long)_rows * _layers;
        _stats.VerifySeconds += pass.Seconds;
        _stats.DecodeSeconds += pass.Seconds;
        if (drafts > 0)
        {
            // Counted as the plain loop counts them: a round for the source of its copy, by which it drafted.
            string source = _fromStore ? DraftSources.DatastoreName : DraftSources.LookupName;
            _stats.DraftedBySource[source] = _stats.DraftedBySource.GetValueOrDefault(source) + drafts;
            if (accepted > 0) _stats.AcceptedBySource[source] = _stats.AcceptedBySource.GetValueOrDefault(source) + accepted;
            _stats.RoundsWithDraft++;
            _stats.RoundsBySource[source] = _stats.RoundsBySource.GetValueOrDefault(source) + 1;
            _stats.CommittedBySource[source] = _stats.CommittedBySource.GetValueOrDefault(source) + accepted + 1;
        }
        for (int i = 0; i < accepted; i++)
            if (!_commit.Commit(committed[i], pass.Logits(_firstRow + i, 1))) return false;
        return _commit.Commit(next, pass.Logits(_firstRow + accepted, 1));
    }

    public DecodeStats CompleteStats()
    {
        _stats.GeneratedTokens = _commit.Output.Count;
        if (_maxRows > 1)
        {
            _stats.Rho = Math.Round(_costs.Rho(1), 4);
            _stats.LayerMillisecondsByRows = [.. Enumerable.Range(1, _maxRows).Select(n => Math.Round(_costs.Layer(n) * 1e3, 4))];
            _stats.HeadMillisecondsByRows = [.. Enumerable.Range(1, _maxRows).Select(n => Math.Round(_costs.Head(n) * 1e3, 4))];
        }
        return _stats;
    }
}
