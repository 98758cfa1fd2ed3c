using System.Text.Json;

namespace SelfSpec.Tests.Tokenization;

/// <summary>Texts the tokenizer is checked on against llama.cpp.</summary>
internal static class TokenizerOracleCases
{
    public static readonly string[] EdgeCases =
    [
        "",
        " ",
        "  ",
        "\n",
        "  \n\n\t  x   ",
        "x\n\n\ny",
        "trailing spaces   ",
        "   leading spaces",
        "Hello, world!",
        "Hello world",
        " Hello world",
        "HELLO WORLD hello World",
        "😀 👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 🇺🇸🇯🇵 ❤️",
        "日本語のテキストです。中文文本，한국어 텍스트",
        "مرحبا بالعالم، كيف حالك؟",
        "Ünïcödé àccents: café naïve résumé Ångström",
        "combining: e\u0301 a\u0308 n\u0303 \u0915\u094D\u0937",
        "def f(x):\n    return x ** 2  # square\n\nif __name__ == '__main__':\n\tprint(f(3))",
        "for (int i = 0; i < n; i++) { a[i] += b[i] * 2; }",
        "<html><body class=\"x\">&nbsp;</body></html>",
        "1234567 3.14159 -0.5e10 1,000,000 2024-01-01 0x1F",
        "１２３ ٣٤٥ ⅫⅣ ½ ²",
        "I'm don't WE'LL they're I've she'd it's You'RE 'tis",
        "'s 't 're 've 'm 'll 'd ''' 'x",
        "<|im_start|>",
        "<|im_end|>",
        "<|endoftext|>",
        "<|im_start|>user\nHi there!<|im_end|>\n<|im_start|>assistant\n",
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>\n",
        "text<|im_end|>text <|im_start|> text",
        "<|im_start|><|im_end|><|endoftext|>",
        "<|im_start",
        "<|IM_START|>",
        "!!!!!!!!!! ?????? ...... ------ ====== ****** ~~~~~~",
        "a!!b??c...d",
        "Tabs\tand\ttabs\t\t\tmany",
        "\r\nwindows\r\nline\r\n",
        "\u00A0non-breaking\u00A0space \u2003em space \u3000ideographic",
        "zero\u200Bwidth\u200Dstuff\uFEFF",
        "math: ∑ ∫ √ ∞ ≈ ≠ ≤ ≥ ∀ ∃ 𝔸 𝕏 𝟙",
        "private use \uE000\uF8FF and \U0001F9FF \U0010FFFD",
        "control chars \u0001\u0002\u001F\u007F end",
        "Ελληνικά Русский текст עברית हिन्दी ไทย",
        "URL: https://example.com/path?q=1&r=2#frag email: a.b@c.de",
        "    indented\n        more\n",
        "word   \n   word",
        "A.B.C. U.S.A. e.g. i.e.",
        "$100 €50 £30 ¥1000 ₹200",
        "snake_case camelCase PascalCase kebab-case SCREAMING_CASE",
        new string('a', 300),
        "The quick brown fox jumps over the lazy dog. " + "The quick brown fox jumps over the lazy dog.",
    ];

    public static IEnumerable<string> SpecBenchTurns()
    {
        foreach (string line in File.ReadLines(TestModels.SpecBenchQuestions))
        {
            if (string.IsNullOrWhiteSpace(line)) continue;
            using var doc = JsonDocument.Parse(line);
            foreach (JsonElement turn in doc.RootElement.GetProperty("turns").EnumerateArray())
                yield return turn.GetString()!;
        }
    }
}
