using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace SelfSpec.Tokenization;

/// <summary>
/// Splits raw text into the words byte-level BPE merges within, as llama.cpp's <c>unicode_regex_split</c> does:
/// a chain of split steps, each step splitting every piece the previous one produced (matches and the text
/// between them both become pieces). The GPT-2 pattern and the "each digit alone" pattern run as hand-written
/// code-point scanners like llama.cpp's own custom splitters; the others run as .NET regular expressions.
/// Pieces are (start, length) in UTF-16 units of the text.
/// </summary>
internal sealed class PreTokenizer
{
    internal const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";
    private const string Llama3Pattern =
        @"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    private const string Qwen2Pattern =
        @"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    private abstract class Step
    {
        public abstract void Split(string text, int start, int length, List<(int Start, int Length)> output);
    }

    private readonly Step[] _steps;

    private PreTokenizer(params Step[] steps) => _steps = steps;

    /// <summary>The name in <c>tokenizer.ggml.pre</c> the splitter was chosen for.</summary>
    public string Name { get; private set; } = "";

    /// <summary>llama.cpp sets <c>ignore_merges</c> for these: a word that is itself a token is not merged.</summary>
    public bool IgnoreMerges { get; private init; }

    /// <summary>The splitter llama.cpp's llama-vocab.cpp picks for a <c>tokenizer.ggml.pre</c> name.</summary>
    public static PreTokenizer ForName(string? pre)
    {
        string name = pre ?? "default";
        PreTokenizer p = name switch
        {
            "default" => new PreTokenizer(
                new RegexStep(@"[\p{P}\$\+<=>\^~\|]+"), new Gpt2Step(), new RegexStep(@"\p{N}+"), new RegexStep("[0-9][0-9][0-9]")),
            "gpt-2" or "mpt" or "olmo" or "jais" or "trillion" or "granite-docling" => new PreTokenizer(new Gpt2Step()),
            "starcoder" or "refact" or "command-r" or "smollm" or "codeshell" or "exaone" or "minerva-7b" =>
                new PreTokenizer(new EachNumberStep(), new Gpt2Step()),
            "llama3" or "llama-v3" or "llama-bpe" or "falcon3" or "falcon-h1" or "pixtral" or "midm-2.0" or "lfm2" =>
                new PreTokenizer(new RegexStep(Llama3Pattern)) { IgnoreMerges = true },
            "qwen2" or "stablelm2" or "hunyuan" or "deepseek-r1-qwen" or "megrez" => new PreTokenizer(new RegexStep(Qwen2Pattern)),
            "tekken" => new PreTokenizer(new RegexStep(
                @"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"))
            { IgnoreMerges = true },
            // Phi-4-mini (phi3), Llama 4: llama.cpp's rewrite of tiktoken's o200k pattern (upper-then-lower letter runs
            // with an optional contraction, digits in threes).
            "gpt-4o" or "llama4" => new PreTokenizer(new RegexStep(
                @"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+")),
            _ => throw new UnsupportedModelException($"tokenizer pre-tokenizer '{name}' (tokenizer.ggml.pre) is not supported"),
        };
        p.Name = name;
        return p;
    }

    /// <summary>Pieces of <paramref name="text"/>, in order, covering it exactly.</summary>
    public List<(int Start, int Length)> Split(string text)
    {
        var current = new List<(int, int)> { (0, text.Length) };
        var next = new List<(int Start, int Length)>();
        foreach (Step step in _steps)
        {
            next.Clear();
            foreach ((int s, int l) in current) step.Split(text, s, l, next);
            (current, next) = (next, current);
        }
        current.RemoveAll(p => p.Item2 == 0);
        return current;
    }

    /// <summary>Each number code point becomes its own piece (llama.cpp's "\p{N}" step).</summary>
    private sealed class EachNumberStep : Step
    {
        public override void Split(string text, int start, int length, List<(int Start, int Length)> output)
        {
            int end = start + length, prev = start, pos = start;
            while (pos < end)
            {
                Rune r = RuneAt(text, pos, end, out int w);
                if (CharFlags.IsNumber(r))
                {
                    if (pos > prev) output.Add((prev, pos - prev));
                    output.Add((pos, w));
                    prev = pos + w;
                }
                pos += w;
            }
            if (end > prev) output.Add((prev, end - prev));
        }
    }

    /// <summary>
    /// The GPT-2 pattern <c>'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)</c>, scanned by
    /// code point exactly as llama.cpp's <c>unicode_regex_split_custom_gpt2</c>: the piece's end acts as the end of
    /// text, and a whitespace run followed by more text leaves its last whitespace to the next word.
    /// </summary>
    private sealed class Gpt2Step : Step
    {
        public override void Split(string text, int start, int length, List<(int Start, int Length)> output)
        {
            int end = start + length;
            int prevEnd = start;
            void Emit(int at, List<(int, int)> o) { if (at > prevEnd) o.Add((prevEnd, at - prevEnd)); prevEnd = at; }

            int pos = start;
            while (pos < end)
            {
                Rune cpt = RuneAt(text, pos, end, out int w);
                if (cpt.Value == '\'' && pos + 1 < end)
                {
                    char n1 = text[pos + 1];
                    if (n1 is 's' or 't' or 'm' or 'd') { pos += 2; Emit(pos, output); continue; }
                    if (pos + 2 < end)
                    {
                        char n2 = text[pos + 2];
                        if ((n1 == 'r' && n2 == 'e') || (n1 == 'v' && n2 == 'e') || (n1 == 'l' && n2 == 'l'))
                        { pos += 3; Emit(pos, output); continue; }
                    }
                }

                int p2 = cpt.Value == ' ' ? pos + 1 : pos; // position whose class decides (" ?X" patterns)
                CharClass c2 = ClassAt(text, p2, end);
                if (c2 is CharClass.Letter or CharClass.Number or CharClass.Other)
                {
                    CharClass want = c2;
                    pos = p2;
                    while (ClassAt(text, pos, end) == want) pos += RuneWidth(text, pos);
                    Emit(pos, output);
                    continue;
                }

                int wsEnd = pos, count = 0;
                while (ClassAt(text, wsEnd, end) == CharClass.Space) { wsEnd += RuneWidth(text, wsEnd); count++; }
                if (count > 1 && wsEnd < end)
                {
                    // \s+(?!\S): all but the last whitespace
                    int p = pos;
                    for (int i = 0; i < count - 1; i++) p += RuneWidth(text, p);
                    pos = p;
                    Emit(pos, output);
                    continue;
                }
                if (count > 0) { pos = wsEnd; Emit(pos, output); continue; }

                pos += w;
                Emit(pos, output);
            }
        }

        private enum CharClass { End, Space, Letter, Number, Other }

        private static CharClass ClassAt(string text, int pos, int end)
        {
            if (pos >= end) return CharClass.End;
            Rune r = RuneAt(text, pos, end, out _);
            if (CharFlags.IsWhitespace(r)) return CharClass.Space;
            if (CharFlags.IsLetter(r)) return CharClass.Letter;
            if (CharFlags.IsNumber(r)) return CharClass.Number;
            return CharClass.Other;
        }
    }

    /// <summary>A general pattern: matches and the gaps between them become pieces (llama.cpp's std::regex path).</summary>
    private sealed class RegexStep(string pattern) : Step
    {
        private readonly Regex _regex = new(pattern, RegexOptions.CultureInvariant | RegexOptions.Compiled);

        public override void Split(string text, int start, int length, List<(int Start, int Length)> output)
        {
            int end = start + length, prev = start;
            // Matching on the piece alone makes its end the end of text, as llama.cpp does.
            string piece = text.Substring(start, length);
            for (Match m = _regex.Match(piece); m.Success; m = m.NextMatch())
            {
                if (m.Length == 0) continue;
                int ms = start + m.Index;
                if (ms > prev) output.Add((prev, ms - prev));
                output.Add((ms, m.Length));
                prev = ms + m.Length;
            }
            if (end > prev) output.Add((prev, end - prev));
        }
    }

    private static int RuneWidth(string text, int pos) =>
        char.IsHighSurrogate(text[pos]) && pos + 1 < text.Length && char.IsLowSurrogate(text[pos + 1]) ? 2 : 1;

    private static Rune RuneAt(string text, int pos, int end, out int width)
    {
        if (Rune.DecodeFromUtf16(text.AsSpan(pos, end - pos), out Rune r, out width) != System.Buffers.OperationStatus.Done)
        {
            width = 1;
            return Rune.ReplacementChar;
        }
        return r;
    }
}

/// <summary>The code-point classes llama.cpp's splitters test (its unicode tables agree with .NET's categories).</summary>
internal static class CharFlags
{
    public static bool IsWhitespace(Rune r) => Rune.IsWhiteSpace(r);

    public static bool IsLetter(Rune r) => Rune.GetUnicodeCategory(r) is UnicodeCategory.UppercaseLetter or
        UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter;

    public static bool IsNumber(Rune r) => Rune.GetUnicodeCategory(r) is UnicodeCategory.DecimalDigitNumber or
        UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber;
}
