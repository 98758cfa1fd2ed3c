using System.Globalization;
using System.Text;
using SelfSpec.Gguf;

namespace SelfSpec.Tokenization;

/// <summary>
/// The tokenizer a GGUF file describes: byte-level BPE (<c>tokenizer.ggml.model = "gpt2"</c>) or SentencePiece
/// BPE with byte fallback (<c>"llama"</c>). Encoding and decoding follow llama.cpp (<c>llama_tokenize</c>,
/// <c>llama_token_to_piece</c>, <c>llama_detokenize</c>) token for token. Thread-safe.
/// </summary>
public sealed class Tokenizer
{
    private readonly Vocabulary _vocab;
    private readonly BpeModel? _bpe;
    private readonly SpmModel? _spm;
    private readonly SpecialTokenSplitter _specials;
    private readonly HashSet<int> _eog;
    private readonly byte[][] _pieces;        // bytes of each token as decoded text
    private readonly bool[] _isHiddenSpecial; // control/unknown: rendered only on request

    private Tokenizer(Vocabulary vocab, BpeModel? bpe, SpmModel? spm, string model, string? pre, int bos, int eos, int? eot, int? eom, HashSet<int> eog,
        int? unknown, int? padding, bool addBos, bool addEos, bool addSpacePrefix)
    {
        _vocab = vocab;
        _bpe = bpe;
        _spm = spm;
        Model = model;
        PreTokenizerName = pre;
        BosId = bos;
        EosId = eos;
        UnknownId = unknown;
        PaddingId = padding;
        AddBos = addBos;
        AddEos = addEos;
        AddSpacePrefix = addSpacePrefix;

        EotId = eot;
        EomId = eom;
        _eog = eog;

        _specials = new SpecialTokenSplitter(vocab);
        _pieces = new byte[vocab.Count][];
        _isHiddenSpecial = new bool[vocab.Count];
        for (int i = 0; i < vocab.Count; i++)
        {
            _pieces[i] = BuildPiece(i);
            _isHiddenSpecial[i] = vocab.Types[i] is TokenType.Control or TokenType.Unknown;
        }
    }

    private void MarkControl(int id)
    {
        // llama.cpp forces end-of-generation tokens to be control tokens, which makes them parse as special text.
        if (_vocab.Types[id] != TokenType.Control) _vocab.Types[id] = TokenType.Control;
    }

    /// <summary>"gpt2" or "llama".</summary>
    public string Model { get; }
    /// <summary><c>tokenizer.ggml.pre</c>, or null (SentencePiece, or absent).</summary>
    public string? PreTokenizerName { get; }
    public int VocabSize => _vocab.Count;
    public int BosId { get; }
    public int EosId { get; }
    /// <summary>End-of-turn token: from metadata, else the first of llama.cpp's known end-of-turn texts present
    /// (llama.cpp's pick among several present is unspecified).</summary>
    public int? EotId { get; }
    public int? EomId { get; }
    public int? UnknownId { get; }
    public int? PaddingId { get; }
    /// <summary>Whether <see cref="Encode"/> with addSpecial prepends BOS (<c>tokenizer.ggml.add_bos_token</c>, llama.cpp's default otherwise).</summary>
    public bool AddBos { get; }
    public bool AddEos { get; }
    /// <summary><c>tokenizer.ggml.add_space_prefix</c> (SentencePiece default true, else false). SentencePiece puts a space
    /// before text at the start and after each special token; decoding (either model, as llama.cpp) drops one leading
    /// space of the first token.</summary>
    public bool AddSpacePrefix { get; }
    /// <summary>Token texts as stored in the GGUF (byte-level characters for "gpt2", U+2581 for spaces for "llama").</summary>
    public IReadOnlyList<string> Tokens => _vocab.Tokens;

    /// <summary>Whether generation stops at <paramref name="id"/>: EOS, EOT, EOM and the end tokens llama.cpp knows by text
    /// (<c>&lt;|im_end|&gt;</c>, <c>&lt;|endoftext|&gt;</c>, <c>&lt;|eot_id|&gt;</c>, ...).</summary>
    public bool IsEndOfGeneration(int id) => _eog.Contains(id);

    /// <summary>Whether <paramref name="id"/> is a control or unknown token (not printed when decoding with renderSpecial false).</summary>
    public bool IsControl(int id) => _vocab.IsValid(id) && _isHiddenSpecial[id];

    /// <summary>Reads the tokenizer of a GGUF file.</summary>
    /// <exception cref="UnsupportedModelException">The tokenizer model or pre-tokenizer is not one this engine runs.</exception>
    /// <exception cref="GgufFormatException">The tokenizer metadata is missing or inconsistent.</exception>
    public static Tokenizer FromGguf(GgufFile file)
    {
        string model = file.GetStringOrNull("tokenizer.ggml.model")
            ?? throw new UnsupportedModelException("model metadata lacks 'tokenizer.ggml.model'");
        if (model is not ("gpt2" or "llama"))
            throw new UnsupportedModelException($"tokenizer model '{model}' (tokenizer.ggml.model) is not supported; supported: gpt2, llama");

        string[] tokens = ArrayOf<string>(file, "tokenizer.ggml.tokens")
            ?? throw new GgufFormatException("model metadata lacks 'tokenizer.ggml.tokens'");
        float[]? scores = ArrayOf<float>(file, "tokenizer.ggml.scores");
        int[]? types = IntArrayOf(file, "tokenizer.ggml.token_type");
        var vocab = new Vocabulary(tokens, scores, types);

        int? Id(string key)
        {
            long? v = file.GetIntegerOrNull(key);
            if (v == null) return null;
            if (v == -1 || v == uint.MaxValue) return null; // "none" as some converters write it
            if (v < 0 || v >= tokens.Length)
                throw new GgufFormatException($"'{key}' = {v} is outside the vocabulary of {tokens.Length} tokens");
            return (int)v;
        }

        string? pre = file.GetStringOrNull("tokenizer.ggml.pre");
        bool? addBosMeta = file.GetBoolOrNull("tokenizer.ggml.add_bos_token");
        bool? addEosMeta = file.GetBoolOrNull("tokenizer.ggml.add_eos_token");
        if (model == "llama")
        {
            int bos = Id("tokenizer.ggml.bos_token_id") ?? 1;
            int eos = Id("tokenizer.ggml.eos_token_id") ?? 2;
            int unk = Id("tokenizer.ggml.unknown_token_id") ?? 0;
            CheckDefault(bos, tokens.Length, "BOS");
            CheckDefault(eos, tokens.Length, "EOS");
            var spm = new SpmModel(vocab, unk);
            var sp = SpecialTokenIds.Resolve(vocab, Id, eos);
            return new Tokenizer(vocab, null, spm, model, null, bos, eos, sp.Eot, sp.Eom, sp.EndOfGeneration,
                unk, Id("tokenizer.ggml.padding_token_id"), addBosMeta ?? true, addEosMeta ?? false,
                file.GetBoolOrNull("tokenizer.ggml.add_space_prefix") ?? true);
        }
        else
        {
            string[] merges = ArrayOf<string>(file, "tokenizer.ggml.merges")
                ?? throw new GgufFormatException("model metadata lacks 'tokenizer.ggml.merges' (required by a gpt2 tokenizer)");
            PreTokenizer splitter = PreTokenizer.ForName(pre);
            int bos = Id("tokenizer.ggml.bos_token_id") ?? 11;
            int eos = Id("tokenizer.ggml.eos_token_id") ?? 11;
            CheckDefault(bos, tokens.Length, "BOS");
            CheckDefault(eos, tokens.Length, "EOS");
            // llama.cpp adds BOS by default for the llama3 and tekken pre-tokenizers only.
            bool defaultAddBos = splitter.IgnoreMerges;
            var sp = SpecialTokenIds.Resolve(vocab, Id, eos);
            return new Tokenizer(vocab, new BpeModel(vocab, merges, splitter), null, model, pre ?? "default", bos, eos,
                sp.Eot, sp.Eom, sp.EndOfGeneration, Id("tokenizer.ggml.unknown_token_id"),
                Id("tokenizer.ggml.padding_token_id"), addBosMeta ?? defaultAddBos, addEosMeta ?? false,
                file.GetBoolOrNull("tokenizer.ggml.add_space_prefix") ?? false);
        }
    }

    private static void CheckDefault(int id, int n, string what)
    {
        if (id >= n) throw new GgufFormatException($"the default {what} id {id} is outside the vocabulary of {n} tokens");
    }

    private static T[]? ArrayOf<T>(GgufFile file, string key)
    {
        GgufArray? a = file.GetArrayOrNull(key);
        if (a == null) return null;
        return a.Values as T[] ?? throw new GgufFormatException($"'{key}' is an array of {a.ElementType}, expected {typeof(T).Name}");
    }

    private static int[]? IntArrayOf(GgufFile file, string key)
    {
        GgufArray? a = file.GetArrayOrNull(key);
        if (a == null) return null;
        return a.Values switch
        {
            int[] i => i,
            uint[] u => Array.ConvertAll(u, x => (int)x),
            byte[] b => Array.ConvertAll(b, x => (int)x),
            sbyte[] sb => Array.ConvertAll(sb, x => (int)x),
            short[] s => Array.ConvertAll(s, x => (int)x),
            ushort[] us => Array.ConvertAll(us, x => (int)x),
            long[] l => Array.ConvertAll(l, x => (int)x),
            _ => throw new GgufFormatException($"'{key}' is an array of {a.ElementType}, expected integers"),
        };
    }

    /// <summary>
    /// Token ids of <paramref name="text"/>, as llama.cpp's <c>llama_tokenize(text, add_special, parse_special)</c>.
    /// </summary>
    /// <param name="text">The text; lone surrogates count as U+FFFD.</param>
    /// <param name="addSpecial">Add BOS / EOS as the metadata asks (<see cref="AddBos"/>, <see cref="AddEos"/>).</param>
    /// <param name="parseSpecial">Text of control tokens (such as <c>&lt;|im_start|&gt;</c>) becomes those tokens;
    /// user-defined tokens are always matched.</param>
    public int[] Encode(string text, bool addSpecial = true, bool parseSpecial = true)
    {
        ArgumentNullException.ThrowIfNull(text);
        text = ReplaceLoneSurrogates(text);
        var output = new List<int>(text.Length / 3 + 4);
        if (addSpecial && AddBos) output.Add(BosId);

        bool prevSpecial = true; // SentencePiece: text at the start or after a special token gets a space prefix
        foreach (SpecialTokenSplitter.Fragment f in _specials.Split(text, parseSpecial))
        {
            if (f.IsToken)
            {
                output.Add(f.Id);
                prevSpecial = true;
                continue;
            }
            if (_bpe != null) _bpe.Tokenize(text.Substring(f.Start, f.Length), output);
            else
            {
                string raw = text.Substring(f.Start, f.Length);
                _spm!.Tokenize(AddSpacePrefix && prevSpecial ? " " + raw : raw, output);
                prevSpecial = false;
            }
        }

        if (addSpecial && AddEos) output.Add(EosId);
        return output.ToArray();
    }

    /// <summary>
    /// The bytes token <paramref name="id"/> contributes to output, as llama.cpp's <c>llama_token_to_piece</c>:
    /// byte-level / U+2581 escapes undone, byte tokens as their byte, control and unknown tokens as their text
    /// when <paramref name="renderSpecial"/> (else nothing).
    /// </summary>
    public byte[] TokenBytes(int id, bool renderSpecial = true)
    {
        if (!_vocab.IsValid(id)) throw new ArgumentOutOfRangeException(nameof(id), id, $"token id outside the vocabulary of {VocabSize}");
        return !renderSpecial && _isHiddenSpecial[id] ? [] : (byte[])_pieces[id].Clone();
    }

    internal ReadOnlySpan<byte> PieceSpan(int id, bool renderSpecial)
    {
        if (!_vocab.IsValid(id)) throw new ArgumentOutOfRangeException(nameof(id), id, $"token id outside the vocabulary of {VocabSize}");
        return !renderSpecial && _isHiddenSpecial[id] ? [] : _pieces[id];
    }

    /// <summary>
    /// Text of <paramref name="ids"/>, as llama.cpp's <c>llama_detokenize(remove_special: false, unparse_special: renderSpecial)</c>:
    /// with a SentencePiece space prefix, one leading space of the first token is dropped. Invalid UTF-8 becomes U+FFFD.
    /// Pass <paramref name="renderSpecial"/> false for user-facing output (no <c>&lt;|im_end|&gt;</c> and the like).
    /// </summary>
    public string Decode(ReadOnlySpan<int> ids, bool renderSpecial = true)
    {
        var bytes = new List<byte>(ids.Length * 4);
        for (int i = 0; i < ids.Length; i++)
        {
            ReadOnlySpan<byte> piece = PieceSpan(ids[i], renderSpecial);
            if (i == 0 && AddSpacePrefix && piece.Length > 0 && piece[0] == (byte)' ') piece = piece[1..];
            foreach (byte b in piece) bytes.Add(b);
        }
        return Encoding.UTF8.GetString(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(bytes));
    }

    private byte[] BuildPiece(int id)
    {
        string text = _vocab.Tokens[id];
        switch (_vocab.Types[id])
        {
            case TokenType.Control or TokenType.Unknown or TokenType.UserDefined:
                return Encoding.UTF8.GetBytes(text);
            case TokenType.Normal:
                if (_spm != null) return Encoding.UTF8.GetBytes(text.Replace(SpmModel.SpaceMarker, ' '));
                var bytes = new List<byte>(text.Length);
                ByteLevel.Decode(text, bytes);
                return bytes.ToArray();
            case TokenType.Byte:
                if (_spm != null)
                {
                    return text.Length == 6 && text.StartsWith("<0x", StringComparison.Ordinal) &&
                        byte.TryParse(text.AsSpan(3, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out byte b)
                        ? [b]
                        : Encoding.UTF8.GetBytes(text);
                }
                var raw = new List<byte>(text.Length);
                ByteLevel.Decode(text, raw);
                return raw.ToArray();
            default:
                return []; // unused / undefined tokens print nothing, as in llama.cpp
        }
    }

    private static string ReplaceLoneSurrogates(string text)
    {
        foreach (char c in text)
            if (char.IsSurrogate(c))
                // Round trip through UTF-8 replaces each lone surrogate with U+FFFD, as a UTF-8 caller would send.
                return Encoding.UTF8.GetString(Encoding.UTF8.GetBytes(text));
        return text;
    }
}
