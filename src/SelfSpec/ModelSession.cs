using System.Runtime.CompilerServices;
using SelfSpec.Decoding;
using SelfSpec.Model;
using SelfSpec.Tokenization;

namespace SelfSpec;

/// <summary>
/// One sequence on a shared <see cref="LanguageModel"/>: its KV cache and the tokens the cache holds. A generation
/// whose prompt begins with tokens the session already holds (a chat's next turn) computes only the rest.
/// Sessions on one model may run from several threads; their forward passes take turns on the model, or, when the
/// model batches (<see cref="ModelLoadOptions.Parallel"/>), share passes.
/// One generation at a time per session.
/// </summary>
public sealed class ModelSession
{
    private readonly LanguageModel _model;
    private KvCache? _cache;
    private int[] _cached = []; // tokens whose keys and values are in _cache, exact at every layer
    private int _busy;

    internal ModelSession(LanguageModel model) => _model = model;

    /// <summary>The model this session runs on.</summary>
    public LanguageModel Model => _model;

    /// <summary>The tokens whose keys and values the session holds; a prompt starting with them reuses them.</summary>
    public IReadOnlyList<int> CachedTokens => _cached;

    /// <summary>Forgets the cached tokens (the cache's memory is kept for the next generation).</summary>
    public void Reset()
    {
        _cached = [];
        _cache?.Truncate(0);
    }

    /// <summary>Generates a continuation of <paramref name="prompt"/> (token ids), streaming each committed token.</summary>
    /// <exception cref="InvalidRequestException">bad options, a bad token id, or a prompt that does not fit the context</exception>
    public async IAsyncEnumerable<GenerationUpdate> GenerateAsync(int[] prompt, GenerationOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellation = default)
    {
        var run = Begin(prompt, options ?? new GenerationOptions(), streaming: true);
        if (_model.Scheduler is { } scheduler)
        {
            // Continuous batching: the scheduler advances the run in passes shared with other sequences.
            Batching.Scheduler.Job? job = null;
            try
            {
                job = scheduler.Submit(run, cancellation);
                await foreach (var update in job.Updates.Reader.ReadAllAsync(CancellationToken.None).ConfigureAwait(false))
                    yield return update;
            }
            finally
            {
                if (job != null)
                {
                    // A caller that stops reading ends the generation; the cache is the session's again once the scheduler lets go.
                    job.Cancel();
                    await job.Ended.ConfigureAwait(false);
                }
                End(run);
            }
            yield break;
        }
        try
        {
            // The prefill is the longest step: let the caller's thread go before it.
            await Task.Yield();
            while (run.Advance(cancellation))
                while (run.TryNext(out var update))
                    yield return update;
            yield return run.Finish();
        }
        finally
        {
            End(run);
        }
    }

    /// <summary>Generates a continuation of <paramref name="prompt"/> (token ids) and returns it whole.</summary>
    /// <exception cref="InvalidRequestException">bad options, a bad token id, or a prompt that does not fit the context</exception>
    public GenerationResult Generate(int[] prompt, GenerationOptions? options = null, CancellationToken cancellation = default)
    {
        var run = Begin(prompt, options ?? new GenerationOptions(), streaming: false);
        if (_model.Scheduler is { } scheduler)
        {
            try
            {
                return scheduler.Submit(run, cancellation).WaitForResult().Result!;
            }
            finally
            {
                End(run);
            }
        }
        try
        {
            while (run.Advance(cancellation))
                while (run.TryNext(out _)) { }
            return run.Finish().Result!;
        }
        finally
        {
            End(run);
        }
    }

    private SessionRun Begin(int[] prompt, GenerationOptions options, bool streaming)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(options);
        options = _model.Resolve(options, prompt);
        if (Interlocked.Exchange(ref _busy, 1) != 0) throw new InvalidOperationException("this session is already generating; use one session per concurrent generation");
        try
        {
            var c = _model.Config;
            int limit = KvCache.CapacityFor(c, prompt.Length, options.MaxTokens);
            // The last prompt token is always computed again: its logits choose the first new token.
            int reused = Math.Min(CommonPrefix(_cached, prompt), prompt.Length - 1);
            _cache?.Truncate(reused);
            if (_cache == null) _cache = new KvCache(c, limit);
            else if (_cache.Capacity < limit) _cache = _cache.Grown(c, (int)Math.Min(c.ContextLength, Math.Max(limit, 2L * _cache.Capacity)));
            // Another session may have computed more of this prompt (a shared system prompt, another conversation's turn).
            if (_model.PromptCache is { } shared) reused = shared.Restore(prompt, _cache, reused);
            _cached = []; // until the generation ends, the cache is in flux
            var request = new DecodeRequest(prompt, reused, options, _cache, limit, _model.Tokenizer.IsEndOfGeneration);
            return new SessionRun(_model, _model.CreateProgress(request), options, prompt, streaming);
        }
        catch
        {
            Volatile.Write(ref _busy, 0);
            throw;
        }
    }

    private void End(SessionRun run)
    {
        var tokens = run.Loop.Tokens;
        int n = run.Failed ? 0 : Math.Min(_cache!.Length, tokens.Count);
        _cache!.Truncate(n);
        var cached = new int[n];
        for (int i = 0; i < n; i++) cached[i] = tokens[i];
        _cached = cached;
        if (!run.Failed) _model.PromptCache?.Store(cached, _cache, n);
        Volatile.Write(ref _busy, 0);
    }

    private static int CommonPrefix(int[] a, int[] b)
    {
        int n = Math.Min(a.Length, b.Length);
        return a.AsSpan(0, n).CommonPrefixLength(b.AsSpan(0, n));
    }
}
