using System.Runtime.CompilerServices;
using SelfSpec.Decoding;

namespace SelfSpec;

/// <summary>
/// The sessions (KV caches) kept between requests, at most <c>capacity</c>. A job whose prompt extends the whole prompt of
/// an idle session's last job (a conversation's next turn) gets that session, and prefills only what is new. Any other
/// job gets a new session while there is room, else the least recently used idle one, whose cache it replaces (keeping
/// whatever prefix they share). Matching on whole earlier prompts rather than any shared prefix matters: every
/// conversation shares the chat template's first tokens, and taking a session for those alone would evict the
/// conversation it holds. The server's generation service and <see cref="Chat.LanguageModelChatClient"/> both choose
/// their sessions here (docs/architecture.md, sessions and API).
/// </summary>
public sealed class SessionPool
{
    private readonly LanguageModel _model;
    private readonly int _capacity;
    private readonly Lock _lock = new();
    private readonly List<Entry> _entries = [];
    private long _clock;

    /// <param name="model">the model the sessions run on (not owned)</param>
    /// <param name="capacity">the most sessions kept between generations (at least 1)</param>
    public SessionPool(LanguageModel model, int capacity)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _model = model;
        _capacity = capacity;
    }

    /// <summary>Sessions kept now.</summary>
    public int Count
    {
        get { lock (_lock) return _entries.Count; }
    }

    /// <summary>Streams a request's generation on the session <see cref="Rent"/> chooses for its prompt, returned at the end.</summary>
    public IAsyncEnumerable<GenerationUpdate> GenerateAsync(GenerationRequest request, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return GenerateAsync(request.Prompt, request.Options, cancellation);
    }

    /// <summary>Streams a generation on the session <see cref="Rent"/> chooses for <paramref name="prompt"/>, returned at the end.</summary>
    public async IAsyncEnumerable<GenerationUpdate> GenerateAsync(int[] prompt, GenerationOptions options,
        [EnumeratorCancellation] CancellationToken cancellation = default)
    {
        var session = Rent(prompt);
        try
        {
            await foreach (var u in session.GenerateAsync(prompt, options, cancellation).ConfigureAwait(false))
                yield return u;
        }
        finally
        {
            Return(session);
        }
    }

    /// <summary>The session for a generation of <paramref name="prompt"/>, marked busy until <see cref="Return"/>.</summary>
    public ModelSession Rent(int[] prompt)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        lock (_lock)
        {
            Entry? chosen = null, oldest = null;
            int longest = 0;
            foreach (var e in _entries)
            {
                if (e.InUse) continue;
                int shared = Shared(e.Session.CachedTokens, prompt);
                if (e.PromptLength > 0 && shared >= e.PromptLength && shared > longest) (chosen, longest) = (e, shared);
                if (oldest == null || e.LastUsed < oldest.LastUsed) oldest = e;
            }
            if (chosen == null && _entries.Count < _capacity)
            {
                chosen = new Entry(_model.CreateSession());
                _entries.Add(chosen);
            }
            chosen ??= oldest;
            if (chosen == null)
            {
                // Every kept session is busy (only under a scheduler running several jobs): this one is not kept.
                return _model.CreateSession();
            }
            chosen.InUse = true;
            chosen.PromptLength = prompt.Length;
            chosen.LastUsed = ++_clock;
            return chosen.Session;
        }
    }

    /// <summary>Hands a session back after its generation (one not kept by the pool is dropped).</summary>
    public void Return(ModelSession session)
    {
        lock (_lock)
        {
            foreach (var e in _entries)
            {
                if (!ReferenceEquals(e.Session, session)) continue;
                e.InUse = false;
                e.LastUsed = ++_clock;
            }
        }
    }

    private static int Shared(IReadOnlyList<int> cached, int[] prompt)
    {
        int n = Math.Min(cached.Count, prompt.Length), i = 0;
        while (i < n && cached[i] == prompt[i]) i++;
        return i;
    }

    private sealed class Entry(ModelSession session)
    {
        public ModelSession Session { get; } = session;
        public bool InUse { get; set; }
        /// <summary>The prompt length of the latest job on this session: a prompt sharing all of it continues that job's conversation.</summary>
        public int PromptLength { get; set; }
        public long LastUsed { get; set; }
    }
}
