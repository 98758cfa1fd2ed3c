using SelfSpec.Gguf;

namespace SelfSpec.Tokenization;

/// <summary>
/// End-of-turn, end-of-message, fill-in-the-middle and end-of-generation ids as llama.cpp's vocabulary loader
/// settles them: from metadata when present, else recognized by token text; every token so recognized is made
/// a control token (so it parses as special text), as llama.cpp does for "control-looking" tokens.
/// </summary>
internal sealed class SpecialTokenIds
{
    private static readonly string[] EotTexts =
    [
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>", "<EOT>", "_<EOT>",
        "<｜end▁of▁sentence｜>", "<end_of_utterance>",
    ];
    private static readonly string[] EomTexts = ["<|eom_id|>"];
    private static readonly string[] FimPreTexts = ["<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>", "<|code_prefix|>"];
    private static readonly string[] FimSufTexts = ["<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>", "<|code_suffix|>"];
    private static readonly string[] FimMidTexts = ["<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>", "<|code_middle|>"];
    private static readonly string[] FimPadTexts = ["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>"];
    private static readonly string[] FimRepTexts = ["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"];
    private static readonly string[] FimSepTexts = ["<|file_sep|>"];
    private static readonly string[] EogTexts =
    [
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>",
        "<EOT>", "_<EOT>", "<|end_of_text|>", "<end_of_utterance>",
    ];
    // gpt-oss: llama.cpp always renders these, as user-defined tokens.
    private static readonly string[] AlwaysRenderedTexts = ["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"];

    public int? Eot { get; private init; }
    public int? Eom { get; private init; }
    public HashSet<int> EndOfGeneration { get; } = [];

    /// <summary>Settles the ids; <paramref name="id"/> reads a metadata id (null when absent).</summary>
    public static SpecialTokenIds Resolve(Vocabulary vocab, Func<string, int?> id, int eos)
    {
        int? Find(string key, string[] texts)
        {
            int? v = id(key);
            if (v != null) return v;
            // llama.cpp walks an unordered map, so with several candidates its pick is unspecified; here the
            // first text in the list that is in the vocabulary wins.
            foreach (string t in texts)
                if (vocab.TryGetId(t, out int found)) { MakeControl(vocab, found); return found; }
            return null;
        }

        int? eot = Find("tokenizer.ggml.eot_token_id", EotTexts);
        int? eom = Find("tokenizer.ggml.eom_token_id", EomTexts);
        Find("tokenizer.ggml.fim_pre_token_id", FimPreTexts);
        Find("tokenizer.ggml.fim_suf_token_id", FimSufTexts);
        Find("tokenizer.ggml.fim_mid_token_id", FimMidTexts);
        int? fimPad = Find("tokenizer.ggml.fim_pad_token_id", FimPadTexts);
        int? fimRep = Find("tokenizer.ggml.fim_rep_token_id", FimRepTexts);
        int? fimSep = Find("tokenizer.ggml.fim_sep_token_id", FimSepTexts);

        var ids = new SpecialTokenIds { Eot = eot, Eom = eom };
        HashSet<int> eog = ids.EndOfGeneration;
        if (fimPad is int p) eog.Add(p);
        if (fimRep is int r) eog.Add(r);
        if (fimSep is int s) eog.Add(s);
        foreach (string t in EogTexts)
            if (vocab.TryGetId(t, out int e)) { eog.Add(e); MakeControl(vocab, e); }
        foreach (string t in AlwaysRenderedTexts)
            if (vocab.TryGetId(t, out int u)) vocab.Types[u] = TokenType.UserDefined;
        eog.Add(eos);
        if (eot is int a) eog.Add(a);
        if (eom is int b) eog.Add(b);

        // o200k_harmony (gpt-oss): with <|return|> and <|call|> present, <|end|> ends a message, not the generation.
        if (vocab.TryGetId("<|return|>", out int ret) && vocab.TryGetId("<|call|>", out int call) && vocab.TryGetId("<|end|>", out int end)
            && eog.Contains(ret) && eog.Contains(call) && eog.Remove(end))
            vocab.Types[end] = TokenType.UserDefined;
        return ids;
    }

    private static void MakeControl(Vocabulary vocab, int id) => vocab.Types[id] = TokenType.Control;
}
