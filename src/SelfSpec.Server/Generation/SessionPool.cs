namespace SelfSpec.Server.Generation;

/// <summary>
/// The sessions (KV caches) kept between requests, at most <c>capacity</c>. A job whose prompt extends the whole prompt of
/// an idle session's last job (a conversation's next turn) gets that session, and prefills only what is new. Any other
/// job gets a new session while there is room, else the least recently used idle one, whose cache it replaces (keeping
/// whatever prefix they share). Matching on whole earlier prompts rather than any shared prefix matters: every
/// conversation shares the chat template's first tokens, and taking a session for those alone would evict the
/// conversation it holds.
/// </summary>
internal sealed class SessionPool
{
    private readonly LanguageModel _model;
    private readonly int _capacity;
    private readonly Lock _lock = new();
    private readonly List<Entry> _entries = [];
    private long _clock;

    public SessionPool(LanguageModel model, int capacity)
    {
        _model = model;
        _capacity = capacity;
    }

    public int Count
    {
        get { lock (_lock) return _entries.Count; }
    }

    public ModelSession Rent(int[] prompt)
    {
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
