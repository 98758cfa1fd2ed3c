namespace SelfSpec.Model;

/// <summary>
/// Keys and values of earlier generations' tokens, kept across sessions (architecture.md 4): a new generation whose
/// prompt begins with tokens another session computed (a shared system prompt, a document asked about twice, the next
/// turn of a conversation served by another session) takes those positions instead of computing them again. Bounded
/// in bytes; the least recently used entry goes first. A position's keys and values depend only on the tokens up to
/// it (batch invariance, architecture.md 2.1), so a reused prefix is bit-identical to a computed one and the output
/// equals an uncached run's.
/// </summary>
internal sealed class PromptCache
{
    /// <summary>Prefixes shorter than this are not worth an entry (every chat shares its template's first tokens).</summary>
    public const int MinTokens = 16;

    private readonly ModelConfig _config;
    private readonly Lock _lock = new();
    private readonly LinkedList<Entry> _entries = []; // most recently used first
    private long _bytes;

    public PromptCache(ModelConfig config, long capacityBytes)
    {
        if (capacityBytes < 0) throw new InvalidRequestException($"prompt cache size {capacityBytes} bytes must not be negative");
        _config = config;
        CapacityBytes = capacityBytes;
    }

    public long CapacityBytes { get; }

    public long Bytes
    {
        get { lock (_lock) return _bytes; }
    }

    public int Count
    {
        get { lock (_lock) return _entries.Count; }
    }

    /// <summary>Keeps the first <paramref name="length"/> positions of <paramref name="cache"/>, which hold <paramref name="tokens"/>.</summary>
    public void Store(IReadOnlyList<int> tokens, KvCache cache, int length)
    {
        length = Math.Min(length, Math.Min(tokens.Count, cache.Length));
        if (length < MinTokens) return;
        long bytes = EntryBytes(length);
        if (bytes > CapacityBytes) return;
        lock (_lock)
        {
            // An entry that already holds these tokens (or more) is only touched; entries this one extends are dropped.
            for (var node = _entries.First; node != null;)
            {
                var next = node.Next;
                int shared = Shared(node.Value.Tokens, tokens, Math.Min(node.Value.Tokens.Length, length));
                if (shared == length)
                {
                    Touch(node);
                    return;
                }
                if (shared == node.Value.Tokens.Length) Remove(node);
                node = next;
            }
            while (_bytes + bytes > CapacityBytes && _entries.Last != null) Remove(_entries.Last);
            var kept = new int[length];
            for (int i = 0; i < length; i++) kept[i] = tokens[i];
            var entry = new Entry(kept, cache.Snapshot(_config, length));
            _entries.AddFirst(entry);
            _bytes += entry.Cache.ByteSize;
        }
    }

    /// <summary>
    /// Gives <paramref name="target"/> the longest cached prefix of <paramref name="prompt"/> (at most its length - 1:
    /// the last prompt token is always computed) when it is longer than <paramref name="already"/>, the positions the
    /// target already holds. Returns the positions the target now holds.
    /// </summary>
    public int Restore(int[] prompt, KvCache target, int already)
    {
        lock (_lock)
        {
            LinkedListNode<Entry>? best = null;
            int longest = already;
            for (var node = _entries.First; node != null; node = node.Next)
            {
                int shared = Shared(node.Value.Tokens, prompt, Math.Min(node.Value.Tokens.Length, prompt.Length - 1));
                if (shared > longest) (best, longest) = (node, shared);
            }
            if (best == null || longest < MinTokens) return already;
            target.RestorePrefix(best.Value.Cache, longest);
            Touch(best);
            return longest;
        }
    }

    private long EntryBytes(int length) => (long)_config.LayerCount * (KvLayoutKeys(length) + (long)length * _config.KvDim) * sizeof(ushort);

    private long KvLayoutKeys(int length) => (long)_config.KvHeadCount * Kernels.KvLayout.KeyHeadElements(length, _config.HeadDim);

    private void Touch(LinkedListNode<Entry> node)
    {
        _entries.Remove(node);
        _entries.AddFirst(node);
    }

    private void Remove(LinkedListNode<Entry> node)
    {
        _entries.Remove(node);
        _bytes -= node.Value.Cache.ByteSize;
    }

    private static int Shared(int[] a, IReadOnlyList<int> b, int most)
    {
        int i = 0;
        while (i < most && i < b.Count && a[i] == b[i]) i++;
        return i;
    }

    private sealed record Entry(int[] Tokens, KvCache Cache);
}
