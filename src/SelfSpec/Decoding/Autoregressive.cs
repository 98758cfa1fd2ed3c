using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using SelfSpec.Model;
using SelfSpec.Sampling;

namespace SelfSpec.Decoding;

/// <summary>
/// Plain decoding: the prompt in batched chunks, then one full forward pass per token. The reference every
/// speculative method must reproduce exactly.
/// </summary>
internal sealed class Autoregressive
{
    private readonly Transformer _model;

    public Autoregressive(Transformer model) => _model = model;

    /// <summary>A whole generation on a fresh cache.</summary>
    /// <param name="isEndOfGeneration">tokens that stop generation</param>
    /// <param name="onToken">called with each generated token; return false to stop</param>
    public GenerationResult Generate(int[] prompt, GenerationOptions options, Func<int, bool> isEndOfGeneration,
        Func<int, bool>? onToken, CancellationToken cancellation)
    {
        options.Validate();
        return DecodeLoops.Run(Begin(DecodeRequest.Fresh(_model, prompt, options, isEndOfGeneration, onToken)), prompt, cancellation);
    }

    /// <summary>A generation on the request's cache, advanced by the caller.</summary>
    public IDecodeLoop Begin(DecodeRequest request) => new Loop(_model, request);

    private sealed class Loop : IDecodeLoop
    {
        private readonly Transformer _model;
        private readonly DecodeRequest _r;
        private readonly KvCache _cache;
        private readonly Sampler _sampler;
        private readonly DecodeStats _stats;
        private readonly float[] _hidden;   // (MaxBatch x embd) prefill chunk, then the one decoded row
        private readonly float[] _logits;   // (vocab)
        private readonly int[] _positions;  // (MaxBatch)
        private readonly List<int> _tokens; // prompt, then the output
        private readonly TokenCommitter _commit;
        private readonly Stopwatch _clock = new();

        public Loop(Transformer model, DecodeRequest r)
        {
            _model = model;
            _r = r;
            var c = model.Config;
            _cache = r.Cache;
            _sampler = new Sampler(r.Options.Sampling, c.VocabSize);
            _stats = new DecodeStats { Method = DecodingMethod.Autoregressive, PromptTokens = r.Prompt.Length, PrefillTokens = r.Prompt.Length - r.Reused };
            _hidden = new float[model.MaxBatch * c.EmbeddingDim];
            _logits = new float[c.VocabSize];
            _positions = new int[model.MaxBatch];
            _tokens = new List<int>(r.Prompt.Length + r.Options.MaxTokens);
            _tokens.AddRange(r.Prompt);
            _commit = new TokenCommitter(r, _tokens, c.VocabSize);
        }

        public IReadOnlyList<int> Output => _commit.Output;
        public IReadOnlyList<TokenLogprobs> Logprobs => _commit.Logprobs;
        public IReadOnlyList<int> Tokens => _tokens;
        public FinishReason Finish => _commit.Finish;

        public bool Start()
        {
            var c = _model.Config;
            var prompt = _r.Prompt;
            _clock.Restart();
            // Prefill: chunks of up to MaxBatch positions past the reused prefix; logits for the last prompt position only.
            _cache.Truncate(_r.Reused);
            int last = 0;
            for (int start = _r.Reused; start < prompt.Length; start += _model.MaxBatch)
            {
                int n = Math.Min(_model.MaxBatch, prompt.Length - start);
                for (int i = 0; i < n; i++) _positions[i] = start + i;
                _model.Embed(prompt.AsSpan(start, n), _hidden);
                _model.Forward(_positions.AsSpan(0, n), _hidden.AsSpan(0, n * c.EmbeddingDim), 0, c.LayerCount, _cache);
                last = n - 1;
            }
            _cache.Commit(prompt.Length);
            _model.FinalLogits(_hidden.AsSpan(last * c.EmbeddingDim, c.EmbeddingDim), 1, _logits);
            _stats.PrefillSeconds = _clock.Elapsed.TotalSeconds;
            _clock.Restart();
            bool go = _r.Options.MaxTokens > 0 && SampleAndEmit();
            _clock.Stop();
            return go;
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public bool Step()
        {
            _clock.Start();
            var c = _model.Config;
            int next = _tokens[^1];
            _positions[0] = _cache.Length;
            _model.Embed(new ReadOnlySpan<int>(in next), _hidden);
            _model.Forward(_positions.AsSpan(0, 1), _hidden.AsSpan(0, c.EmbeddingDim), 0, c.LayerCount, _cache);
            _cache.Commit(_cache.Length + 1);
            _model.FinalLogits(_hidden, 1, _logits);
            _stats.Rounds++;
            _stats.LayerRows += c.LayerCount;
            bool go = SampleAndEmit();
            _clock.Stop();
            return go;
        }

        /// <summary>Chooses the next token from the logits and commits it; false when generation ends.</summary>
        private bool SampleAndEmit()
        {
            int next = _sampler.Sample(_logits, CollectionsMarshal.AsSpan(_tokens));
            Debug.Assert(_cache.Length == _tokens.Count - 1);
            return _commit.Commit(next, _logits);
        }

        public DecodeStats CompleteStats()
        {
            _stats.DecodeSeconds = _clock.Elapsed.TotalSeconds;
            _stats.GeneratedTokens = _commit.Output.Count;
            return _stats;
        }
    }
}
