using System.Collections.Concurrent;

namespace SelfSpec.Tokenization;

/// <summary>
/// Byte-level BPE ("gpt2" in GGUF), as llama.cpp's <c>llm_tokenizer_bpe</c>: the pre-tokenizer cuts text into
/// words; each word's UTF-8 bytes become byte-level characters; adjacent symbols merge lowest merge rank first
/// (leftmost on ties) until no ranked pair is left. Results are cached per word.
/// </summary>
internal sealed class BpeModel
{
    private const int MaxCachedWords = 1 << 16;

    private readonly Vocabulary _vocab;
    private readonly PreTokenizer _pre;
    private readonly Dictionary<(string Left, string Right), int> _ranks;
    private readonly ConcurrentDictionary<string, int[]> _cache = new(StringComparer.Ordinal);

    public BpeModel(Vocabulary vocab, string[] merges, PreTokenizer pre)
    {
        _vocab = vocab;
        _pre = pre;
        _ranks = new Dictionary<(string, string), int>(merges.Length);
        for (int i = 0; i < merges.Length; i++)
        {
            string m = merges[i];
            // llama.cpp looks for the separating space from index 1, so a merge may start with a space character.
            int sep = m.Length > 1 ? m.IndexOf(' ', 1) : -1;
            if (sep < 0) throw new GgufFormatException($"tokenizer.ggml.merges[{i}] '{m}' has no space separating its two parts");
            _ranks.TryAdd((m[..sep], m[(sep + 1)..]), i);
        }
    }

    public PreTokenizer PreTokenizer => _pre;

    /// <summary>Appends the ids of a stretch of ordinary text.</summary>
    public void Tokenize(string text, List<int> output)
    {
        foreach ((int start, int length) in _pre.Split(text))
        {
            string word = ByteLevel.Encode(text.AsSpan(start, length));
            if (_cache.TryGetValue(word, out int[]? ids))
            {
                output.AddRange(ids);
                continue;
            }
            ids = EncodeWord(word);
            if (_cache.Count >= MaxCachedWords) _cache.Clear();
            _cache.TryAdd(word, ids);
            output.AddRange(ids);
        }
    }

    private struct Symbol
    {
        public int Start, Length, Prev, Next;
    }

    /// <summary>Merges one byte-level word. The queue holds candidate pairs by (rank, left index); a pair whose
    /// symbols changed since it was queued is skipped when popped.</summary>
    private int[] EncodeWord(string word)
    {
        if (_pre.IgnoreMerges && _vocab.TryGetId(word, out int whole)) return [whole];

        int n = word.Length; // byte-level characters are all single UTF-16 units
        var symbols = new Symbol[n];
        for (int i = 0; i < n; i++) symbols[i] = new Symbol { Start = i, Length = 1, Prev = i - 1, Next = i + 1 < n ? i + 1 : -1 };

        var queue = new PriorityQueue<(int Left, int Right, int Size), (int Rank, int Left)>();
        void TryAdd(int left, int right)
        {
            if (left < 0 || right < 0) return;
            string a = word.Substring(symbols[left].Start, symbols[left].Length);
            string b = word.Substring(symbols[right].Start, symbols[right].Length);
            if (_ranks.TryGetValue((a, b), out int rank))
                queue.Enqueue((left, right, a.Length + b.Length), (rank, left));
        }
        for (int i = 1; i < n; i++) TryAdd(i - 1, i);

        while (queue.TryDequeue(out var pair, out _))
        {
            ref Symbol left = ref symbols[pair.Left];
            ref Symbol right = ref symbols[pair.Right];
            if (left.Length == 0 || right.Length == 0 || left.Length + right.Length != pair.Size || left.Next != pair.Right) continue;
            left.Length += right.Length;
            right.Length = 0;
            left.Next = right.Next;
            if (right.Next >= 0) symbols[right.Next].Prev = pair.Left;
            TryAdd(left.Prev, pair.Left);
            TryAdd(pair.Left, left.Next);
        }

        var ids = new List<int>(n);
        for (int i = 0; i != -1 && n > 0; i = symbols[i].Next)
        {
            string piece = word.Substring(symbols[i].Start, symbols[i].Length);
            if (_vocab.TryGetId(piece, out int id)) { ids.Add(id); continue; }
            // Not in the vocabulary (an incomplete vocabulary): llama.cpp falls back to single characters and drops
            // those it cannot find either.
            foreach (char c in piece)
                if (_vocab.TryGetId(c.ToString(), out int cid)) ids.Add(cid);
        }
        return ids.ToArray();
    }
}
