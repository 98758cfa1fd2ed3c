using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using SelfSpec.Model;
using SelfSpec.Sampling;

namespace SelfSpec.Decoding;

/// <summary>
/// The speculative decoding loop shared by every drafting method (<see cref="RoundRows"/>: the rows of a round and
/// their depths; <see cref="IDraftSource"/>: where drafts come from).
/// <list type="bullet">
/// <item>Drafting runs the newest row up to a candidate exit layer; the earlier rows still below that depth join it
/// in the same batched calls (catch-up), so every row attends to exact keys and values at every layer.</item>
/// <item>Verification carries all rows to the last layer in a staircase of batched calls (one per distinct depth),
/// computes the final logits of every row, and accepts drafts left to right (<see cref="Verifier"/>).</item>
/// <item>The accepted rows' keys and values are already exact; the cache is cut back past them.</item>
/// </list>
/// A draft's hidden state at its exit layer is exactly what the full pass computes there (batch invariance), so
/// verification continues from it instead of recomputing. Greedy output therefore equals greedy autoregressive output.
/// </summary>
internal sealed class SelfSpeculative
{
    private readonly Transformer _model;
    private readonly IExitHead _exitHead;
    private readonly ExitPriors? _priors;
    private readonly DecodeCosts _costs;
    private readonly TokenStore[] _datastore;
    private readonly DraftRates? _rates;

    /// <param name="costs">the model's timed costs, kept across generations (null: a fresh table)</param>
    /// <param name="exitHead">the exit head (default: the model's own head)</param>
    /// <param name="priors">calibrated starting estimates for the price bound, or null for the own-head priors</param>
    /// <param name="datastore">the model's earlier output searched by lookup and hybrid (a snapshot), or null for none</param>
    /// <param name="rates">acceptance rates learned over the model's generations, or null: each generation starts from the priors</param>
    public SelfSpeculative(Transformer model, DecodeCosts? costs = null, IExitHead? exitHead = null, ExitPriors? priors = null, TokenStore[]? datastore = null,
        DraftRates? rates = null)
    {
        _rates = rates;
        _datastore = datastore ?? [];
        _model = model;
        _costs = costs ?? new DecodeCosts(model.MaxBatch);
        _exitHead = exitHead ?? new OwnExitHead(model);
        _priors = priors;
    }

    /// <summary>A whole generation on a fresh cache.</summary>
    public GenerationResult Generate(int[] prompt, GenerationOptions options, Func<int, bool> isEndOfGeneration,
        Func<int, bool>? onToken, CancellationToken cancellation)
    {
        options.Validate();
        return DecodeLoops.Run(Begin(DecodeRequest.Fresh(_model, prompt, options, isEndOfGeneration, onToken)), prompt, cancellation);
    }

    /// <summary>A generation on the request's cache, advanced by the caller.</summary>
    public IDecodeLoop Begin(DecodeRequest request) => new Round(this, request);

    /// <summary>The state of one generation: buffers sized once, the round's rows, the draft sources, the bound.</summary>
    private sealed class Round : IDecodeLoop
    {
        private readonly Transformer _m;
        private readonly DecodeRequest _r;
        private readonly GenerationOptions _options;
        private readonly int _layers, _embd, _vocab, _capacity, _maxRows;
        private readonly KvCache _cache;
        private readonly Sampler _sampler;
        private readonly Verifier _verifier;
        private readonly PriceBound _bound;
        private readonly DecodeCosts _costs;
        private readonly DecodeStats _stats;
        private readonly RoundRows _rows;
        private readonly IDraftSource[] _sources; // tried in order for each draft
        private readonly ExitProbe? _probe;
        private readonly float[] _logits;      // (maxRows x vocab) final logits of the round's rows
        private readonly float[] _firstLogits; // (vocab) the first token's logits
        private readonly float[] _q;           // (maxRows x vocab) draft distributions when sampling
        private readonly bool[] _oneHot;       // (maxRows) draft i+1 was copied (q one-hot)
        private readonly int[] _proposer;      // (maxRows) which source proposed the draft after row i
        private readonly int[] _counter;       // (maxRows) the counter that draft counts under (0 lookup, else its layer)
        private readonly int[] _drafted, _accepted; // by counter (layers + 1)
        private readonly int[] _roundsBySource, _committedBySource; // by the counter of a round's first draft
        private readonly List<int> _tokens;    // committed tokens, then the round's drafts
        private readonly TokenCommitter _commit;
        private readonly Stopwatch _clock = new();

        public Round(SelfSpeculative owner, DecodeRequest r)
        {
            _r = r;
            _options = r.Options;
            _m = owner._model;
            var spec = _options.Speculation ?? SpeculationOptions.Default;
            var method = _options.Method;
            var c = _m.Config;
            _layers = c.LayerCount;
            _embd = c.EmbeddingDim;
            _vocab = c.VocabSize;
            _capacity = r.Limit;
            int drafts = method == DecodingMethod.Static ? spec.StaticDraftLength : spec.MaxDrafts;
            _maxRows = Math.Min(_m.MaxBatch, drafts + 1);
            _cache = r.Cache;
            _sampler = new Sampler(_options.Sampling, _vocab);
            _verifier = new Verifier(_sampler, spec.Acceptance, _vocab);
            _costs = owner._costs;
            _bound = new PriceBound(_layers, spec.Tau, _costs, owner._priors, owner._rates);
            _stats = new DecodeStats { Method = method, PromptTokens = r.Prompt.Length, PrefillTokens = r.Prompt.Length - r.Reused };
            _logits = new float[_maxRows * _vocab];
            _firstLogits = new float[_vocab];
            _q = _options.Sampling.IsGreedy ? [] : new float[_maxRows * _vocab];
            _oneHot = new bool[_maxRows];
            _proposer = new int[_maxRows];
            _counter = new int[_maxRows];
            _drafted = new int[DraftSources.Datastore(_layers) + 1];
            _accepted = new int[DraftSources.Datastore(_layers) + 1];
            _roundsBySource = new int[DraftSources.Datastore(_layers) + 1];
            _committedBySource = new int[DraftSources.Datastore(_layers) + 1];
            _tokens = new List<int>(r.Prompt.Length + _options.MaxTokens + _maxRows);
            _tokens.AddRange(r.Prompt);
            _commit = new TokenCommitter(r, _tokens, _vocab);
            _rows = new RoundRows(_m, _cache, _costs, _stats, _maxRows, _tokens);
            if (method is DecodingMethod.SpecBound or DecodingMethod.Hybrid or DecodingMethod.Static)
                _probe = new ExitProbe(_rows, owner._exitHead, _bound, _sampler, spec, _costs, _stats, _layers, _vocab, _q, _oneHot);
            _sources = method switch
            {
                DecodingMethod.SpecBound => [new ExitDrafts(_probe!, spec.ResolveExitLayers(_layers), spec.ResolveMaxDepth(_layers), _rows, _maxRows, spec.ResolveMaxExitDrafts())],
                DecodingMethod.Static => [new StaticDrafts(_probe!, spec.ResolveStaticExitLayer(_layers))],
                DecodingMethod.Lookup => [new LookupDrafts(_rows, _bound, spec, spec.LookupMinNgram, _oneHot, _maxRows, owner._datastore, DraftSources.Datastore(_layers))],
                DecodingMethod.Hybrid =>
                [
                    new LookupDrafts(_rows, _bound, spec, spec.HybridMinNgram, _oneHot, _maxRows, owner._datastore, DraftSources.Datastore(_layers)),
                    new ExitDrafts(_probe!, spec.ResolveExitLayers(_layers), spec.ResolveMaxDepth(_layers), _rows, _maxRows, spec.ResolveMaxExitDrafts()),
                ],
                _ => [],
            };
        }

        public IReadOnlyList<int> Output => _commit.Output;
        public IReadOnlyList<TokenLogprobs> Logprobs => _commit.Logprobs;
        public IReadOnlyList<int> Tokens => _tokens;
        public FinishReason Finish => _commit.Finish;

        public bool Start()
        {
            _clock.Restart();
            Prefill(_r.Prompt);
            _stats.PrefillSeconds = _clock.Elapsed.TotalSeconds;
            _clock.Restart();
            bool go = false;
            if (_options.MaxTokens > 0)
            {
                long t0 = Stopwatch.GetTimestamp();
                int first = _sampler.Sample(_firstLogits, CollectionsMarshal.AsSpan(_tokens));
                _stats.SamplingSeconds += Stopwatch.GetElapsedTime(t0).TotalSeconds;
                go = _commit.Commit(first, _firstLogits);
            }
            _clock.Stop();
            return go;
        }

        public bool Step()
        {
            _clock.Start();
            bool go = DraftVerifyCommit();
            _clock.Stop();
            return go;
        }

        public DecodeStats CompleteStats()
        {
            _stats.DecodeSeconds = _clock.Elapsed.TotalSeconds;
            _stats.GeneratedTokens = _commit.Output.Count;
            _stats.Rho = Math.Round(_costs.Rho(1), 4);
            _stats.LayerMillisecondsByRows = [.. Enumerable.Range(1, _maxRows).Select(n => Math.Round(_costs.Layer(n) * 1e3, 4))];
            _stats.HeadMillisecondsByRows = [.. Enumerable.Range(1, _maxRows).Select(n => Math.Round(_costs.Head(n) * 1e3, 4))];
            double onePass = _layers * _costs.Layer(1) + _costs.Head(1);
            _stats.PassCostByRows = onePass > 0 ? [.. Enumerable.Range(1, _maxRows).Select(n => (_layers * _costs.Layer(n) + _costs.Head(n)) / onePass)] : [];
            _stats.RoundsBySource.Clear();
            _stats.CommittedBySource.Clear();
            _stats.DraftedBySource.Clear();
            _stats.AcceptedBySource.Clear();
            _stats.ExitLayerHistogram.Clear();
            for (int s = 0; s < _drafted.Length; s++)
            {
                string name = s == DraftSources.Lookup ? DraftSources.LookupName : s == DraftSources.Datastore(_layers) ? DraftSources.DatastoreName : $"layer {s}";
                if (_drafted[s] > 0) _stats.DraftedBySource[name] = _drafted[s];
                if (_accepted[s] > 0) _stats.AcceptedBySource[name] = _accepted[s];
                if (_roundsBySource[s] > 0)
                {
                    _stats.RoundsBySource[name] = _roundsBySource[s];
                    _stats.CommittedBySource[name] = _committedBySource[s];
                }
                if (_probe != null && s <= _layers && _probe.DraftsByLayer[s] > 0) _stats.ExitLayerHistogram[s] = _probe.DraftsByLayer[s];
            }
            return _stats;
        }

        /// <summary>The prompt past the reused prefix in chunks of up to MaxBatch positions; the last position's logits choose the first token.</summary>
        private void Prefill(int[] prompt)
        {
            var hidden = _rows.Hidden;
            var positions = _rows.Positions;
            _cache.Truncate(_r.Reused);
            int last = 0;
            for (int start = _r.Reused; start < prompt.Length; start += _m.MaxBatch)
            {
                int n = Math.Min(_m.MaxBatch, prompt.Length - start);
                for (int i = 0; i < n; i++) positions[i] = start + i;
                _m.Embed(prompt.AsSpan(start, n), hidden);
                long t0 = Stopwatch.GetTimestamp();
                _m.Forward(positions.AsSpan(0, n), hidden.AsSpan(0, n * _embd), 0, _layers, _cache);
                _costs.ObserveForward(n, _layers, Stopwatch.GetElapsedTime(t0).TotalSeconds);
                last = n - 1;
            }
            _cache.Commit(prompt.Length);
            long t1 = Stopwatch.GetTimestamp();
            _m.FinalLogits(hidden.AsSpan(last * _embd, _embd), 1, _firstLogits);
            _costs.ObserveHead(1, Stopwatch.GetElapsedTime(t1).TotalSeconds);
        }

        /// <summary>One round: draft, verify, commit. Returns false when generation ends.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private bool DraftVerifyCommit()
        {
            int p = _tokens.Count - 1; // position of x_0, the last committed token
            Debug.Assert(_cache.Length == p);
            int remaining = _commit.Remaining;
            // Rows sit at positions below the capacity; a round commits at most rows tokens.
            int rowLimit = Math.Min(_maxRows, Math.Min(_capacity - p, remaining));
            _bound.Round = _stats.Rounds;
            _bound.BeginRound();
            _rows.Begin(p);

            _rows.Drafting = true;
            Draft(rowLimit);
            _rows.Drafting = false;

            int drafts = _rows.Count - 1;
            _rows.AdvanceTo(drafts, _layers);
            long t0 = Stopwatch.GetTimestamp();
            _m.FinalLogits(_rows.Hidden.AsSpan(0, _rows.Count * _embd), _rows.Count, _logits);
            double head = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            _stats.VerifySeconds += head;
            _stats.PredictedSeconds += _costs.Head(_rows.Count);
            _costs.ObserveHead(_rows.Count, head);

            t0 = Stopwatch.GetTimestamp();
            var (accepted, next) = _verifier.Accept(_logits, drafts, CollectionsMarshal.AsSpan(_tokens), p + 1, _q, _oneHot);
            _stats.SamplingSeconds += Stopwatch.GetElapsedTime(t0).TotalSeconds;
            Learn(drafts, accepted);

            Span<int> committed = stackalloc int[drafts];
            CollectionsMarshal.AsSpan(_tokens).Slice(p + 1, drafts).CopyTo(committed);
            _tokens.RemoveRange(p + 1, drafts);
            _cache.Commit(p + 1 + accepted);
            _stats.Rounds++;
            _stats.Drafted += drafts;
            _stats.Accepted += accepted;
            if (drafts > 0)
            {
                // The round counts for the source of its first draft: the one that decided a round was worth drafting.
                _stats.RoundsWithDraft++;
                _roundsBySource[_counter[0]]++;
                _committedBySource[_counter[0]] += accepted + 1;
            }
            // Row i's logits decided draft i (accepted) and row `accepted` the correction or bonus token.
            for (int i = 0; i < accepted; i++)
                if (!_commit.Commit(committed[i], _logits.AsSpan(i * _vocab, _vocab))) return false;
            return _commit.Commit(next, _logits.AsSpan(accepted * _vocab, _vocab));
        }

        /// <summary>Appends drafts while the sources and the bound allow: each draft from the first source that has one.</summary>
        private void Draft(int rowLimit)
        {
            foreach (var source in _sources) source.BeginRound();
            while (_rows.Count < rowLimit)
            {
                int k = _rows.Count - 1; // the newest row proposes the next draft
                int token = DraftSources.None;
                for (int s = 0; s < _sources.Length && token == DraftSources.None; s++)
                {
                    token = _sources[s].Propose(k, rowLimit, out _counter[k]);
                    _proposer[k] = s;
                }
                if (token < 0) return;
                _rows.Append(token);
            }
        }

        /// <summary>Tells each draft's source the verdict on it (drafts after the first rejection were never tested) and counts them.</summary>
        private void Learn(int drafts, int accepted)
        {
            for (int i = 0; i < drafts; i++)
            {
                _drafted[_counter[i]]++;
                if (i < accepted) _accepted[_counter[i]]++;
                if (i <= accepted) _sources[_proposer[i]].Observe(i, i < accepted);
            }
        }
    }
}
