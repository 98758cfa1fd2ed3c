namespace SelfSpec.Server.Generation;

/// <summary>
/// The sessions (KV caches) kept between requests, at most <c>capacity</c>. A job gets the idle session whose cached
/// tokens share the longest prefix with its prompt, so a conversation's next turn prefills only what is new; when none
/// shares anything, a new session while there is room, else the least recently used idle one, whose cache is replaced.
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
            Entry? best = null, oldest = null;
            int bestShared = 0;
            foreach (var e in _entries)
            {
                if (e.InUse) continue;
                int shared = Shared(e.Session.CachedTokens, prompt);
                if (shared > bestShared) (best, bestShared) = (e, shared);
                if (oldest == null || e.LastUsed < oldest.LastUsed) oldest = e;
            }
            if (best == null && _entries.Count < _capacity)
            {
                best = new Entry(_model.CreateSession());
                _entries.Add(best);
            }
            best ??= oldest;
            if (best == null)
            {
                // Every kept session is busy (only under a scheduler running several jobs): this one is not kept.
                return _model.CreateSession();
            }
            best.InUse = true;
            best.LastUsed = ++_clock;
            return best.Session;
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
        public long LastUsed { get; set; }
    }
}
