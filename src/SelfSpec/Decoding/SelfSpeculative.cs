using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using SelfSpec.Model;
using SelfSpec.Sampling;

namespace SelfSpec.Decoding;

/// <summary>
/// The speculative decoding loop shared by every drafting method (DESIGN 4, "Round"). Rows 0..k of a round sit at
/// positions P..P+k: row 0 holds the last committed token x_0, row i the draft x_i. Each row has a depth (layers
/// computed); depths never increase along the rows, so the rows at any depth form one block.
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

    /// <param name="costs">the model's timed costs, kept across generations (null: a fresh table)</param>
    /// <param name="exitHead">the exit head (default: the model's own head)</param>
    /// <param name="priors">calibrated starting estimates for the price bound, or null for the own-head priors</param>
    public SelfSpeculative(Transformer model, DecodeCosts? costs = null, IExitHead? exitHead = null, ExitPriors? priors = null)
    {
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

    /// <summary>The state of one generation: buffers sized once, the rows of the current round, the bound.</summary>
    private sealed class Round : IDecodeLoop
    {
        private readonly Transformer _m;
        private readonly IExitHead _exitHead;
        private readonly GenerationOptions _options;
        private readonly SpeculationOptions _spec;
        private readonly DecodingMethod _method;
        private readonly int _layers, _embd, _vocab, _capacity, _maxRows;
        private readonly int[] _exitLayers;
        private readonly int _maxDepth, _staticLayer;
        private readonly KvCache _cache;
        private readonly Sampler _sampler;
        private readonly Verifier _verifier;
        private readonly PriceBound _bound;
        private readonly DecodeCosts _costs;
        private readonly DecodeStats _stats;
        private readonly float[] _hidden;      // (MaxBatch x embd) prefill chunk, then the round's rows
        private readonly float[] _logits;      // (maxRows x vocab) final logits of the round's rows
        private readonly float[] _exitLogits;  // (vocab) first token's logits; a draft's full-vocabulary logits when sampling
        private readonly float[] _draftLogits; // (draft vocab) exit head output
        private readonly float[] _q;           // (maxRows x vocab) draft distributions when sampling
        private readonly bool[] _oneHot;       // (maxRows) draft i+1 was copied (q one-hot)
        private readonly int[] _depth, _positions, _source, _ngram; // (maxRows)
        private readonly bool[] _follows;      // (maxRows) a lookup draft that continues the previous copy
        private readonly int[] _lookup;        // (maxRows) the current copy
        private readonly List<int> _tokens;    // committed tokens, then the round's drafts
        private readonly List<int> _output;
        private readonly string[] _sourceNames; // by source: 0 = "lookup", l = "layer l"
        private int _rows;                     // rows in the current round (1 + drafts)
        private bool _drafting;                // forward time counts as drafting (else verification)
        private readonly DecodeRequest _r;
        private readonly Stopwatch _clock = new();
        private FinishReason _finish = FinishReason.Length;

        public Round(SelfSpeculative owner, DecodeRequest r)
        {
            _r = r;
            var options = r.Options;
            var prompt = r.Prompt;
            int capacity = r.Limit;
            _m = owner._model;
            _exitHead = owner._exitHead;
            _options = options;
            _spec = options.Speculation ?? SpeculationOptions.Default;
            _method = options.Method;
            var c = _m.Config;
            _layers = c.LayerCount;
            _embd = c.EmbeddingDim;
            _vocab = c.VocabSize;
            _capacity = capacity;
            int drafts = _method == DecodingMethod.Static ? _spec.StaticDraftLength : _spec.MaxDrafts;
            _maxRows = Math.Min(_m.MaxBatch, drafts + 1);
            _exitLayers = _spec.ResolveExitLayers(_layers);
            _maxDepth = _spec.ResolveMaxDepth(_layers);
            _staticLayer = _spec.ResolveStaticExitLayer(_layers);
            _cache = r.Cache;
            _sampler = new Sampler(options.Sampling, _vocab);
            _verifier = new Verifier(_sampler, _spec.Acceptance, _vocab);
            _costs = owner._costs;
            _bound = new PriceBound(_layers, _spec.Tau, _costs, owner._priors);
            _stats = new DecodeStats { Method = _method, PromptTokens = prompt.Length, PrefillTokens = prompt.Length - r.Reused };
            _hidden = new float[_m.MaxBatch * _embd];
            _logits = new float[_maxRows * _vocab];
            _exitLogits = new float[_vocab];
            _draftLogits = new float[_exitHead.DraftVocabSize];
            _q = options.Sampling.IsGreedy ? [] : new float[_maxRows * _vocab];
            _oneHot = new bool[_maxRows];
            _depth = new int[_maxRows];
            _positions = new int[_m.MaxBatch];
            _source = new int[_maxRows];
            _ngram = new int[_maxRows];
            _follows = new bool[_maxRows];
            _lookup = new int[_maxRows];
            _tokens = new List<int>(prompt.Length + options.MaxTokens + _maxRows);
            _output = new List<int>(options.MaxTokens);
            _tokens.AddRange(prompt);
            _sourceNames = [.. Enumerable.Range(0, _layers + 1).Select(l => l == 0 ? "lookup" : $"layer {l}")];
        }

        private bool UsesLookup => _method is DecodingMethod.Lookup or DecodingMethod.Hybrid;
        private bool UsesExits => _method is DecodingMethod.SpecBound or DecodingMethod.Hybrid;

        public IReadOnlyList<int> Output => _output;
        public IReadOnlyList<int> Tokens => _tokens;
        public FinishReason Finish => _finish;

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
                int first = _sampler.Sample(_exitLogits, CollectionsMarshal.AsSpan(_tokens));
                _stats.SamplingSeconds += Stopwatch.GetElapsedTime(t0).TotalSeconds;
                go = Emit(first);
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
            _stats.GeneratedTokens = _output.Count;
            _stats.Rho = Math.Round(_costs.Rho(1), 4);
            _stats.LayerMillisecondsByRows = [.. Enumerable.Range(1, _maxRows).Select(n => Math.Round(_costs.Layer(n) * 1e3, 4))];
            _stats.HeadMillisecondsByRows = [.. Enumerable.Range(1, _maxRows).Select(n => Math.Round(_costs.Head(n) * 1e3, 4))];
            return _stats;
        }

        /// <summary>The prompt in chunks of up to MaxBatch positions; the last position's logits land in the exit-logit buffer.</summary>
        private void Prefill(int[] prompt)
        {
            _cache.Truncate(_r.Reused);
            int last = 0;
            for (int start = _r.Reused; start < prompt.Length; start += _m.MaxBatch)
            {
                int n = Math.Min(_m.MaxBatch, prompt.Length - start);
                for (int i = 0; i < n; i++) _positions[i] = start + i;
                _m.Embed(prompt.AsSpan(start, n), _hidden);
                long t0 = Stopwatch.GetTimestamp();
                _m.Forward(_positions.AsSpan(0, n), _hidden.AsSpan(0, n * _embd), 0, _layers, _cache);
                _costs.ObserveForward(n, _layers, Stopwatch.GetElapsedTime(t0).TotalSeconds);
                last = n - 1;
            }
            _cache.Commit(prompt.Length);
            long t1 = Stopwatch.GetTimestamp();
            _m.FinalLogits(_hidden.AsSpan(last * _embd, _embd), 1, _exitLogits);
            _costs.ObserveHead(1, Stopwatch.GetElapsedTime(t1).TotalSeconds);
        }

        /// <summary>Commits one token with plain decoding's checks, in its order. Returns false when generation ends.</summary>
        private bool Emit(int token)
        {
            if (_options.StopAtEndOfGeneration && _r.IsEndOfGeneration(token)) { _finish = FinishReason.EndOfGeneration; return false; }
            _output.Add(token);
            _tokens.Add(token);
            if (_r.OnToken != null && !_r.OnToken(token)) { _finish = FinishReason.Cancelled; return false; }
            if (_output.Count >= _options.MaxTokens) { _finish = FinishReason.Length; return false; }
            // Plain decoding has computed every position before this token; it stops when that fills the cache.
            if (_tokens.Count - 1 >= _capacity) { _finish = FinishReason.ContextFull; return false; }
            return true;
        }

        /// <summary>One round: draft, verify, commit. Returns false when generation ends.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private bool DraftVerifyCommit()
        {
            int p = _tokens.Count - 1; // position of x_0, the last committed token
            Debug.Assert(_cache.Length == p);
            int remaining = _options.MaxTokens - _output.Count;
            // Rows sit at positions below the capacity; a round commits at most rows tokens.
            int rowLimit = Math.Min(_maxRows, Math.Min(_capacity - p, remaining));
            _bound.Round = _stats.Rounds;
            _bound.BeginRound();
            _rows = 1;
            _depth[0] = 0;
            _positions[0] = p;
            _m.Embed(CollectionsMarshal.AsSpan(_tokens).Slice(p, 1), _hidden);

            _drafting = true;
            if (_method != DecodingMethod.Autoregressive) Draft(rowLimit);
            _drafting = false;

            int drafts = _rows - 1;
            AdvanceTo(drafts, _layers);
            long t0 = Stopwatch.GetTimestamp();
            _m.FinalLogits(_hidden.AsSpan(0, _rows * _embd), _rows, _logits);
            double head = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            _stats.VerifySeconds += head;
            _costs.ObserveHead(_rows, head);

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
            for (int i = 0; i < accepted; i++)
                if (!Emit(committed[i])) return false;
            return Emit(next);
        }

        /// <summary>Updates the bound's estimates and the per-source counts from a verification.</summary>
        private void Learn(int drafts, int accepted)
        {
            for (int i = 0; i < drafts; i++)
            {
                string name = SourceName(_source[i]);
                _stats.DraftedBySource[name] = _stats.DraftedBySource.GetValueOrDefault(name) + 1;
                if (i < accepted) _stats.AcceptedBySource[name] = _stats.AcceptedBySource.GetValueOrDefault(name) + 1;
                if (i > accepted) continue; // never tested: an earlier draft was rejected
                bool ok = i < accepted;
                if (_source[i] > 0) _bound.ObserveExitDraft(_source[i], ok);
                else _bound.ObserveLookupDraft(_ngram[i], _follows[i], ok);
            }
        }

        private string SourceName(int source) => _sourceNames[source];

        /// <summary>Appends drafts while the method's rules and the bound allow.</summary>
        private void Draft(int rowLimit)
        {
            int copied = 0, next = 0, ngram = 0;
            while (_rows < rowLimit)
            {
                int k = _rows - 1; // the newest row proposes the next draft
                if (UsesLookup)
                {
                    if (next >= copied)
                    {
                        (copied, ngram) = PromptLookup.Find(CollectionsMarshal.AsSpan(_tokens), _spec.LookupMinNgram, _spec.LookupMaxNgram,
                            _lookup.AsSpan(0, rowLimit - _rows));
                        next = 0;
                    }
                    int minNgram = _method == DecodingMethod.Hybrid ? _spec.HybridMinNgram : _spec.LookupMinNgram;
                    if (next < copied && ngram >= minNgram)
                    {
                        bool follows = next > 0;
                        if (_spec.PriceBound && !_bound.LookupDraftWorthIt(ngram, follows, _depth[k])) return;
                        _bound.AddLookupDraft(ngram, follows, _depth[k]);
                        _source[k] = 0;
                        _ngram[k] = ngram;
                        _follows[k] = follows;
                        _oneHot[k] = true;
                        Append(_lookup[next++]);
                        continue;
                    }
                }
                copied = next = 0;
                int token = _method == DecodingMethod.Static ? StaticDraft(k) : UsesExits ? ExitDraft(k) : -1;
                if (token < 0) return;
                Append(token);
            }
        }

        /// <summary>The newest row climbs the candidate exits up to d_max; returns the draft, or -1 to stop drafting.</summary>
        private int ExitDraft(int k)
        {
            bool checkedAny = false;
            foreach (int layer in _exitLayers)
            {
                if (layer > _maxDepth) break;
                if (layer < _depth[k]) continue;
                if (_spec.PriceBound && !_bound.ExitCheckWorthIt(layer)) continue;
                checkedAny = true;
                float confidence = ExitLogits(k, layer);
                bool fired = confidence >= _spec.Tau;
                _bound.ObserveExitCheck(layer, fired);
                if (!fired) continue;
                _bound.AddExitDraft(layer);
                return ChooseDraft(k, layer);
            }
            if (checkedAny) _stats.DifficultStops++;
            return -1;
        }

        private int StaticDraft(int k)
        {
            if (_spec.PriceBound && !_bound.StaticDraftWorthIt(_staticLayer)) return -1;
            ExitLogits(k, _staticLayer);
            _bound.AddExitDraft(_staticLayer);
            return ChooseDraft(k, _staticLayer);
        }

        /// <summary>Runs row k (with catch-up) to <paramref name="layer"/>, evaluates the exit head there; returns the annealed confidence.</summary>
        private float ExitLogits(int k, int layer)
        {
            AdvanceTo(k, layer);
            long t0 = Stopwatch.GetTimestamp();
            _exitHead.Logits(layer, _hidden.AsSpan(k * _embd, _embd), _draftLogits);
            double seconds = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            _stats.HeadSeconds += seconds;
            _stats.ExitHeadCalls++;
            _costs.ObserveExitHead(seconds);
            _bound.ChargeExitCheck();
            return ExitConfidence.Confidence(_draftLogits, ExitConfidence.Temperature(_spec.Alpha, layer, _layers));
        }

        /// <summary>The draft from row k's exit logits: the argmax, or a sample from q (kept for the acceptance test).</summary>
        private int ChooseDraft(int k, int layer)
        {
            _source[k] = layer;
            _ngram[k] = 0;
            _follows[k] = false;
            _oneHot[k] = false;
            _stats.ExitLayerHistogram[layer] = _stats.ExitLayerHistogram.GetValueOrDefault(layer) + 1;
            if (_options.Sampling.IsGreedy) return _exitHead.Token(Sampler.ArgMax(_draftLogits));
            long t0 = Stopwatch.GetTimestamp();
            // q over the full vocabulary, zero outside the draft vocabulary: the distribution the draft is drawn from.
            _exitHead.Expand(_draftLogits, _exitLogits);
            var q = _q.AsSpan(k * _vocab, _vocab);
            _sampler.Distribution(_exitLogits, CollectionsMarshal.AsSpan(_tokens), q);
            int token = _sampler.Draw(q);
            _stats.SamplingSeconds += Stopwatch.GetElapsedTime(t0).TotalSeconds;
            return token;
        }

        /// <summary>Adds a row for draft <paramref name="token"/> at depth 0.</summary>
        private void Append(int token)
        {
            int row = _rows++;
            _depth[row] = 0;
            _positions[row] = _positions[0] + row;
            _tokens.Add(token);
            _m.Embed(new ReadOnlySpan<int>(in token), _hidden.AsSpan(row * _embd, _embd));
        }

        /// <summary>
        /// Brings row j to depth <paramref name="target"/>. Layer by depth block: the rows at row j's depth (a block
        /// ending at j) run up to the next deeper row's depth, where that row joins them (catch-up), and so on.
        /// </summary>
        private void AdvanceTo(int j, int target)
        {
            while (_depth[j] < target)
            {
                int from = _depth[j];
                int a = j;
                while (a > 0 && _depth[a - 1] == from) a--;
                int to = a > 0 ? Math.Min(target, _depth[a - 1]) : target;
                int n = j - a + 1;
                long t0 = Stopwatch.GetTimestamp();
                _m.Forward(_positions.AsSpan(a, n), _hidden.AsSpan(a * _embd, n * _embd), from, to, _cache);
                double seconds = Stopwatch.GetElapsedTime(t0).TotalSeconds;
                if (_drafting) _stats.DraftSeconds += seconds; else _stats.VerifySeconds += seconds;
                _costs.ObserveForward(n, to - from, seconds);
                _stats.LayerRows += (long)n * (to - from);
                for (int i = a; i <= j; i++) _depth[i] = to;
            }
        }
    }
}
