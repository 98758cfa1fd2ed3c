namespace SelfSpec.Tokenization;

/// <summary>
/// The token table of a GGUF tokenizer: text, score and type of every id, and the reverse map from text.
/// Token text is stored as the GGUF holds it (byte-level encoded for "gpt2", with U+2581 for spaces for "llama").
/// </summary>
internal sealed class Vocabulary
{
    private readonly Dictionary<string, int> _idByText;

    public Vocabulary(string[] tokens, float[]? scores, int[]? types)
    {
        if (tokens.Length == 0) throw new GgufFormatException("tokenizer.ggml.tokens is empty");
        if (scores != null && scores.Length != tokens.Length)
            throw new GgufFormatException($"tokenizer.ggml.scores has {scores.Length} entries but there are {tokens.Length} tokens");
        if (types != null && types.Length != tokens.Length)
            throw new GgufFormatException($"tokenizer.ggml.token_type has {types.Length} entries but there are {tokens.Length} tokens");
        Tokens = tokens;
        Scores = scores ?? new float[tokens.Length];
        Types = new TokenType[tokens.Length];
        _idByText = new Dictionary<string, int>(tokens.Length, StringComparer.Ordinal);
        for (int i = 0; i < tokens.Length; i++)
        {
            Types[i] = types == null ? TokenType.Normal : (TokenType)types[i];
            // Later duplicates win, as in llama.cpp's token_to_id map which is filled in id order with operator[].
            _idByText[tokens[i]] = i;
        }
    }

    public string[] Tokens { get; }
    public float[] Scores { get; }
    public TokenType[] Types { get; }
    public int Count => Tokens.Length;

    public bool TryGetId(string text, out int id) => _idByText.TryGetValue(text, out id);

    public bool IsValid(int id) => (uint)id < (uint)Tokens.Length;

    /// <summary>Control, user-defined and unknown tokens: those llama.cpp matches in text when parsing special tokens.</summary>
    public bool IsSpecialText(int id) => Types[id] is TokenType.Control or TokenType.UserDefined or TokenType.Unknown;
}
