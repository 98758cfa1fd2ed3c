namespace SelfSpec.Tokenization;

/// <summary>
/// Cuts text at occurrences of special tokens' text, as llama.cpp's <c>tokenizer_st_partition</c>: special tokens
/// are tried longest text first; each one splits every remaining stretch of raw text at all its occurrences,
/// left to right. Without <c>parseSpecial</c> only user-defined tokens are matched (control and unknown tokens
/// stay text), as in llama.cpp.
/// </summary>
internal sealed class SpecialTokenSplitter
{
    private readonly Vocabulary _vocab;
    private readonly int[] _byLengthDescending;

    public SpecialTokenSplitter(Vocabulary vocab)
    {
        _vocab = vocab;
        var ids = new List<int>();
        for (int id = 0; id < vocab.Count; id++)
            if (vocab.IsSpecialText(id) && vocab.Tokens[id].Length > 0) ids.Add(id);
        // llama.cpp sorts by UTF-8 byte length, longest first (ties: lower id first here).
        _byLengthDescending = ids
            .OrderByDescending(id => System.Text.Encoding.UTF8.GetByteCount(vocab.Tokens[id]))
            .ThenBy(id => id)
            .ToArray();
    }

    /// <summary>A piece of the input: a special token (Id &gt;= 0) or raw text [Start, Start+Length).</summary>
    public readonly record struct Fragment(int Id, int Start, int Length)
    {
        public bool IsToken => Id >= 0;
    }

    public List<Fragment> Split(string text, bool parseSpecial)
    {
        // Empty text has no fragment at all (so a SentencePiece space prefix is not added either).
        var fragments = new List<Fragment>();
        if (text.Length > 0) fragments.Add(new Fragment(-1, 0, text.Length));
        foreach (int id in _byLengthDescending)
        {
            TokenType type = _vocab.Types[id];
            if (!parseSpecial && type is TokenType.Control or TokenType.Unknown) continue;
            string special = _vocab.Tokens[id];
            for (int f = 0; f < fragments.Count; f++)
            {
                Fragment frag = fragments[f];
                if (frag.IsToken) continue;
                int at = text.IndexOf(special, frag.Start, frag.Length, StringComparison.Ordinal);
                if (at < 0) continue;
                var replacement = new List<Fragment>();
                int pos = frag.Start, end = frag.Start + frag.Length;
                while (at >= 0)
                {
                    if (at > pos) replacement.Add(new Fragment(-1, pos, at - pos));
                    replacement.Add(new Fragment(id, at, special.Length));
                    pos = at + special.Length;
                    at = pos < end ? text.IndexOf(special, pos, end - pos, StringComparison.Ordinal) : -1;
                }
                if (end > pos) replacement.Add(new Fragment(-1, pos, end - pos));
                fragments.RemoveAt(f);
                fragments.InsertRange(f, replacement);
                f += replacement.Count - 1;
            }
        }
        return fragments;
    }
}
