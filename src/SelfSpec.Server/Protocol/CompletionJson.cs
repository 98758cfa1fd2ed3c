using System.Buffers;
using System.Text.Json;
using SelfSpec.Decoding;

namespace SelfSpec.Server.Protocol;

/// <summary>
/// The JSON of completion responses and stream chunks, chat (<c>chat.completion</c>) and text (<c>text_completion</c>)
/// alike: written by hand with <see cref="Utf8JsonWriter"/> so the field order and nulls are exactly OpenAI's.
/// </summary>
internal sealed class CompletionJson(bool chat, string id, long created, string model, LogprobsJson logprobs)
{
    public static string NewId(bool chat) => (chat ? "chatcmpl-" : "cmpl-") + Guid.NewGuid().ToString("N");

    public static string Finish(FinishReason reason) => reason switch
    {
        FinishReason.Length or FinishReason.ContextFull => "length",
        _ => "stop",
    };

    /// <summary>A whole non-streaming response.</summary>
    public byte[] Response(GenerationResult r) => Build(w =>
    {
        Header(w, chat ? "chat.completion" : "text_completion");
        w.WriteStartArray("choices");
        w.WriteStartObject();
        w.WriteNumber("index", 0);
        if (chat)
        {
            w.WriteStartObject("message");
            w.WriteString("role", "assistant");
            w.WriteString("content", r.Text);
            w.WriteEndObject();
        }
        else w.WriteString("text", r.Text);
        logprobs.Write(w, r.Logprobs);
        w.WriteString("finish_reason", Finish(r.FinishReason));
        w.WriteEndObject();
        w.WriteEndArray();
        StatsJson.WriteUsage(w, r.Stats);
        StatsJson.WriteTimings(w, r.Stats);
        StatsJson.WriteSelfSpec(w, r.Stats);
    });

    /// <summary>
    /// A stream chunk: the first (chat: the assistant role), one with text and the log-probabilities of the tokens it
    /// completes (when asked for), or the last (finish reason and statistics).
    /// </summary>
    public byte[] Chunk(string? text, bool first = false, GenerationResult? last = null, IReadOnlyList<TokenLogprobs>? tokens = null) => Build(w =>
    {
        Header(w, chat ? "chat.completion.chunk" : "text_completion");
        w.WriteStartArray("choices");
        w.WriteStartObject();
        w.WriteNumber("index", 0);
        if (chat)
        {
            w.WriteStartObject("delta");
            if (first) w.WriteString("role", "assistant");
            if (text != null) w.WriteString("content", text);
            w.WriteEndObject();
        }
        else w.WriteString("text", text ?? "");
        logprobs.Write(w, tokens);
        if (last != null) w.WriteString("finish_reason", Finish(last.FinishReason)); else w.WriteNull("finish_reason");
        w.WriteEndObject();
        w.WriteEndArray();
        if (last != null)
        {
            StatsJson.WriteTimings(w, last.Stats);
            StatsJson.WriteSelfSpec(w, last.Stats);
        }
    });

    /// <summary>The chunk <c>stream_options.include_usage</c> asks for: no choices, the usage.</summary>
    public byte[] UsageChunk(DecodeStats s) => Build(w =>
    {
        Header(w, chat ? "chat.completion.chunk" : "text_completion");
        w.WriteStartArray("choices");
        w.WriteEndArray();
        StatsJson.WriteUsage(w, s);
    });

    private void Header(Utf8JsonWriter w, string obj)
    {
        w.WriteString("id", id);
        w.WriteString("object", obj);
        w.WriteNumber("created", created);
        w.WriteString("model", model);
        w.WriteString("system_fingerprint", "selfspec");
    }

    private static byte[] Build(Action<Utf8JsonWriter> body)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            body(w);
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }
}
