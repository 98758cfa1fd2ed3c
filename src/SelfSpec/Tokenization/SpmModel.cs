using System.Text;

namespace SelfSpec.Tokenization;

/// <summary>
/// SentencePiece BPE with byte fallback ("llama" in GGUF), as llama.cpp's <c>llm_tokenizer_spm</c>: spaces become
/// U+2581; the text starts as one symbol per character; the adjacent pair whose concatenation is the vocabulary
/// token with the highest score merges first (leftmost on ties). A final symbol that is not a token is split back
/// along the merges that built it, and a character that is not a token becomes its UTF-8 bytes as
/// <c>&lt;0xXX&gt;</c> tokens (the unknown token where the vocabulary lacks one).
/// </summary>
internal sealed class SpmModel
{
    internal const char SpaceMarker = '\u2581';

    private readonly Vocabulary _vocab;
    private readonly int _unknownId;
    private readonly int[] _byteIds = new int[256];

    public SpmModel(Vocabulary vocab, int unknownId)
    {
        _vocab = vocab;
        _unknownId = unknownId;
        for (int b = 0; b < 256; b++)
        {
            if (vocab.TryGetId($"<0x{b:X2}>", out int id)) _byteIds[b] = id;
            else if (vocab.TryGetId(((char)b).ToString(), out id) && b < 0x80) _byteIds[b] = id;
            else _byteIds[b] = unknownId;
        }
    }

    private struct Symbol
    {
        public int Start, Length, Prev, Next;
    }

    /// <summary>Appends the ids of <paramref name="text"/> (already with its space prefix, spaces not yet escaped).</summary>
    public void Tokenize(string text, List<int> output)
    {
        if (text.Length == 0) return;
        string s = text.Replace(' ', SpaceMarker);

        var symbols = new List<Symbol>(s.Length);
        for (int pos = 0; pos < s.Length;)
        {
            int w = char.IsHighSurrogate(s[pos]) && pos + 1 < s.Length && char.IsLowSurrogate(s[pos + 1]) ? 2 : 1;
            symbols.Add(new Symbol { Start = pos, Length = w, Prev = symbols.Count - 1, Next = pos + w < s.Length ? symbols.Count + 1 : -1 });
            pos += w;
        }
        var syms = symbols.ToArray();
        var revMerge = new Dictionary<string, (int Left, int Right)>(StringComparer.Ordinal);
        // Max-heap on score, then min left: .NET's queue is a min-heap, so the priority is (-score, left).
        var queue = new PriorityQueue<(int Left, int Right, int Size), (float NegScore, int Left)>();

        void TryAdd(int left, int right)
        {
            if (left < 0 || right < 0) return;
            string t = s.Substring(syms[left].Start, syms[left].Length + syms[right].Length);
            if (!_vocab.TryGetId(t, out int id)) return;
            queue.Enqueue((left, right, t.Length), (-_vocab.Scores[id], left));
            revMerge[t] = (left, right);
        }

        for (int i = 1; i < syms.Length; i++) TryAdd(i - 1, i);
        while (queue.TryDequeue(out var pair, out _))
        {
            ref Symbol l = ref syms[pair.Left];
            ref Symbol r = ref syms[pair.Right];
            if (l.Length == 0 || r.Length == 0 || l.Length + r.Length != pair.Size) continue;
            l.Length += r.Length;
            r.Length = 0;
            l.Next = r.Next;
            if (r.Next >= 0) syms[r.Next].Prev = pair.Left;
            TryAdd(l.Prev, pair.Left);
            TryAdd(pair.Left, l.Next);
        }

        for (int i = 0; i != -1; i = syms[i].Next) Resegment(s, syms, revMerge, syms[i].Start, syms[i].Length, output);
    }

    private void Resegment(string s, Symbol[] syms, Dictionary<string, (int Left, int Right)> revMerge, int start, int length, List<int> output)
    {
        string t = s.Substring(start, length);
        if (_vocab.TryGetId(t, out int id))
        {
            output.Add(id);
            return;
        }
        if (revMerge.TryGetValue(t, out var parts))
        {
            // The parts' recorded extents at the time of the merge: left starts at its symbol, right follows it.
            int leftStart = syms[parts.Left].Start, rightStart = syms[parts.Right].Start;
            Resegment(s, syms, revMerge, leftStart, rightStart - leftStart, output);
            Resegment(s, syms, revMerge, rightStart, start + length - rightStart, output);
            return;
        }
        foreach (byte b in Encoding.UTF8.GetBytes(t)) output.Add(_byteIds[b]);
    }

    public int UnknownId => _unknownId;
}
