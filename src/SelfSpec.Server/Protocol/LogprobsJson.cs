using System.Text;
using System.Text.Json;
using SelfSpec.Decoding;
using SelfSpec.Tokenization;

namespace SelfSpec.Server.Protocol;

/// <summary>
/// A choice's <c>logprobs</c> object in OpenAI's two shapes. Chat: <c>{"content":[{"token","logprob","bytes","top_logprobs":[...]}],"refusal":null}</c>.
/// Completions: <c>{"tokens","token_logprobs","top_logprobs":[{token: logprob}],"text_offset"}</c>. A token's text is its
/// bytes decoded as UTF-8 (a token holding part of a character shows U+FFFD; <c>bytes</c> has the exact bytes).
/// One instance per response: completions' <c>text_offset</c> runs on across a stream's chunks.
/// </summary>
internal sealed class LogprobsJson(Tokenizer tokenizer, bool chat)
{
    private readonly Decoder _utf8 = new UTF8Encoding(false, false).GetDecoder();
    private int _offset; // characters of output text before the next token (completions' text_offset)

    /// <summary>Writes <c>"logprobs": ...</c>: null when none were asked for (<paramref name="tokens"/> null).</summary>
    public void Write(Utf8JsonWriter w, IReadOnlyList<TokenLogprobs>? tokens)
    {
        if (tokens == null)
        {
            w.WriteNull("logprobs");
            return;
        }
        w.WriteStartObject("logprobs");
        if (chat) WriteChat(w, tokens);
        else WriteCompletion(w, tokens);
        w.WriteEndObject();
    }

    private void WriteChat(Utf8JsonWriter w, IReadOnlyList<TokenLogprobs> tokens)
    {
        w.WriteStartArray("content");
        foreach (var t in tokens)
        {
            w.WriteStartObject();
            Token(w, t.Token, t.Logprob);
            w.WriteStartArray("top_logprobs");
            foreach (var alt in t.Top)
            {
                w.WriteStartObject();
                Token(w, alt.Token, alt.Logprob);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteNull("refusal");
    }

    private void Token(Utf8JsonWriter w, int id, float logprob)
    {
        byte[] bytes = tokenizer.TokenBytes(id);
        w.WriteString("token", Encoding.UTF8.GetString(bytes));
        w.WriteNumber("logprob", Finite(logprob));
        w.WriteStartArray("bytes");
        foreach (byte b in bytes) w.WriteNumberValue(b);
        w.WriteEndArray();
    }

    private void WriteCompletion(Utf8JsonWriter w, IReadOnlyList<TokenLogprobs> tokens)
    {
        w.WriteStartArray("tokens");
        foreach (var t in tokens) w.WriteStringValue(Text(t.Token));
        w.WriteEndArray();
        w.WriteStartArray("token_logprobs");
        foreach (var t in tokens) w.WriteNumberValue(Finite(t.Logprob));
        w.WriteEndArray();
        w.WriteStartArray("top_logprobs");
        var seen = new HashSet<string>();
        foreach (var t in tokens)
        {
            // A JSON object keyed by token text: two ids with the same text keep the more likely one.
            seen.Clear();
            w.WriteStartObject();
            foreach (var alt in t.Top)
            {
                string text = Text(alt.Token);
                if (seen.Add(text)) w.WriteNumber(text, Finite(alt.Logprob));
            }
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("text_offset");
        foreach (var t in tokens)
        {
            w.WriteNumberValue(_offset);
            // Characters this token completes: a token ending inside a character adds it with the next one.
            byte[] bytes = tokenizer.TokenBytes(t.Token);
            // (up to three bytes held back from earlier tokens, each at worst one replacement character)
            _offset += _utf8.GetChars(bytes, 0, bytes.Length, new char[bytes.Length + 4], 0, flush: false);
        }
        w.WriteEndArray();
    }

    private string Text(int id) => Encoding.UTF8.GetString(tokenizer.TokenBytes(id));

    // Logits are finite, so log-probabilities are; a JSON number cannot be infinite, so a token the model rules out
    // entirely would show as a very unlikely one rather than break the response.
    private static float Finite(float logprob) => float.IsFinite(logprob) ? logprob : -9999f;
}
