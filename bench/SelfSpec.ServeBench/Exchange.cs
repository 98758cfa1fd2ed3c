using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;

namespace SelfSpec.ServeBench;

/// <summary>One request as a client sends it: chat or text completion, whole or streamed, perhaps abandoned mid-stream.</summary>
internal sealed record RequestSpec(bool Chat, string Prompt, int MaxTokens, bool Stream, int DisconnectAfterChunks = 0)
{
    /// <summary>The decoding method asked for in the <c>selfspec</c> object, or null for the server's default.</summary>
    public string? Method { get; init; }

    /// <summary>A body sent as is instead of the request's (a malformed one, which must be answered 400), or null.</summary>
    public string? RawBody { get; init; }

    public string Path => Chat ? "/v1/chat/completions" : "/v1/completions";

    public string Body()
    {
        if (RawBody != null) return RawBody;
        string prompt = JsonSerializer.Serialize(Prompt);
        string input = Chat ? $$"""
            "messages":[{"role":"user","content":{{prompt}}}]
            """ : $"\"prompt\":{prompt}";
        string stream = Stream ? ""","stream":true,"stream_options":{"include_usage":true}""" : "";
        string method = Method != null ? $",\"selfspec\":{{\"method\":\"{Method}\"}}" : "";
        return $$"""{{{input}},"max_tokens":{{MaxTokens}},"temperature":0{{stream}}{{method}}}""";
    }
}

/// <summary>What came back, with the checks that it is a well-formed, complete OpenAI response.</summary>
internal sealed record Outcome
{
    public int Status { get; init; }
    public string? Id { get; init; }
    public string Text { get; init; } = "";
    public int CompletionTokens { get; init; }
    public string? FinishReason { get; init; }
    /// <summary>Seconds to the first content (streamed) or to the whole answer.</summary>
    public double FirstTokenSeconds { get; init; }
    public double TotalSeconds { get; init; }
    /// <summary>Seconds between the first and the last content chunk (streamed only).</summary>
    public double StreamSeconds { get; init; }
    public int ContentChunks { get; init; }
    public int? RetryAfter { get; init; }
    public bool Disconnected { get; init; }
    /// <summary>A malformed body sent on purpose (not a request to count as completed or lost).</summary>
    public bool Malformed { get; init; }
    public int CachedTokens { get; init; }
    /// <summary>The server's own timings: prefill milliseconds and decode tokens/s.</summary>
    public double PromptMs { get; init; }
    public double PredictedPerSecond { get; init; }
    /// <summary>Why the response is not well-formed and complete, or null.</summary>
    public string? Problem { get; init; }
}

/// <summary>Sends one request and reads the answer, checking OpenAI's shapes and the SSE framing on the way.</summary>
internal static class Exchange
{
    public static async Task<Outcome> SendAsync(HttpClient http, RequestSpec spec)
    {
        var clock = Stopwatch.StartNew();
        using var cts = new CancellationTokenSource();
        var request = new HttpRequestMessage(HttpMethod.Post, spec.Path) { Content = new StringContent(spec.Body(), Encoding.UTF8, "application/json") };
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cts.Token);
        int status = (int)response.StatusCode;
        if (response.StatusCode != HttpStatusCode.OK)
        {
            string body = await response.Content.ReadAsStringAsync();
            string? problem = ErrorShape(body);
            int? retry = response.Headers.RetryAfter?.Delta is { } d ? (int)d.TotalSeconds : null;
            if (status == 429 && retry == null) problem ??= "429 without Retry-After";
            if (spec.RawBody != null && status != 429) return new Outcome { Status = status, TotalSeconds = clock.Elapsed.TotalSeconds, Problem = status == 400 ? problem : problem ?? $"status {status} for a malformed body" };
            return new Outcome { Status = status, RetryAfter = retry, TotalSeconds = clock.Elapsed.TotalSeconds, Problem = status == 429 ? problem : problem ?? $"status {status}: {body}" };
        }
        if (spec.RawBody != null) return new Outcome { Status = status, Problem = $"status {status} for a malformed body" };
        if (!spec.Stream)
        {
            string body = await response.Content.ReadAsStringAsync();
            double t = clock.Elapsed.TotalSeconds;
            return Whole(body, spec) with { Status = status, FirstTokenSeconds = t, TotalSeconds = t };
        }
        return await StreamAsync(response, spec, clock, cts);
    }

    private static Outcome Whole(string body, RequestSpec spec)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            var root = doc.RootElement;
            string expectObject = spec.Chat ? "chat.completion" : "text_completion";
            if (root.GetProperty("object").GetString() != expectObject) return new Outcome { Problem = $"object is not {expectObject}" };
            var choice = root.GetProperty("choices")[0];
            string text = spec.Chat ? choice.GetProperty("message").GetProperty("content").GetString()! : choice.GetProperty("text").GetString()!;
            var usage = root.GetProperty("usage");
            int tokens = usage.GetProperty("completion_tokens").GetInt32();
            string? finish = choice.GetProperty("finish_reason").GetString();
            return new Outcome
            {
                Id = root.GetProperty("id").GetString(), Text = text, CompletionTokens = tokens, FinishReason = finish,
                CachedTokens = usage.GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32(),
                PromptMs = root.GetProperty("timings").GetProperty("prompt_ms").GetDouble(),
                PredictedPerSecond = root.GetProperty("timings").GetProperty("predicted_per_second").GetDouble(),
                Problem = Incomplete(finish, tokens, spec),
            };
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or IndexOutOfRangeException)
        {
            return new Outcome { Problem = $"malformed response: {e.Message}" };
        }
    }

    private static async Task<Outcome> StreamAsync(HttpResponseMessage response, RequestSpec spec, Stopwatch clock, CancellationTokenSource cts)
    {
        await using var body = await response.Content.ReadAsStreamAsync(cts.Token);
        using var reader = new StreamReader(body, Encoding.UTF8);
        var text = new StringBuilder();
        string? id = null, finish = null, problem = null;
        int chunks = 0, contentChunks = 0, tokens = -1, cached = 0;
        double first = 0, lastContent = 0, promptMs = 0, predictedPerSecond = 0;
        bool done = false, sawRole = !spec.Chat;
        try
        {
            while (await reader.ReadLineAsync(cts.Token) is { } line)
            {
                if (line.Length == 0) continue;
                if (done) { problem ??= "data after [DONE]"; break; }
                if (!line.StartsWith("data: ", StringComparison.Ordinal)) { problem ??= $"not a data line: {line}"; break; }
                string data = line["data: ".Length..];
                if (data == "[DONE]") { done = true; continue; }
                using var doc = JsonDocument.Parse(data);
                var root = doc.RootElement;
                if (root.TryGetProperty("error", out var error)) { problem ??= $"error event: {error}"; break; }
                chunks++;
                string chunkId = root.GetProperty("id").GetString()!;
                if (id != null && chunkId != id) { problem ??= "chunks of one stream carry different ids"; }
                id ??= chunkId;
                var choices = root.GetProperty("choices");
                if (choices.GetArrayLength() == 0)
                {
                    if (finish == null) problem ??= "usage chunk before the finish reason";
                    var usage = root.GetProperty("usage");
                    tokens = usage.GetProperty("completion_tokens").GetInt32();
                    cached = usage.GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32();
                    continue;
                }
                if (finish != null) problem ??= "a choice after the finish reason";
                var choice = choices[0];
                string? piece;
                if (spec.Chat)
                {
                    var delta = choice.GetProperty("delta");
                    if (chunks == 1) sawRole = delta.TryGetProperty("role", out var role) && role.GetString() == "assistant";
                    piece = delta.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString() : null;
                }
                else piece = choice.GetProperty("text").GetString();
                if (!string.IsNullOrEmpty(piece))
                {
                    if (contentChunks == 0) first = clock.Elapsed.TotalSeconds;
                    lastContent = clock.Elapsed.TotalSeconds;
                    contentChunks++;
                    text.Append(piece);
                    if (spec.DisconnectAfterChunks > 0 && contentChunks >= spec.DisconnectAfterChunks)
                    {
                        await cts.CancelAsync();
                        return new Outcome { Status = 200, Id = id, Text = text.ToString(), Disconnected = true, FirstTokenSeconds = first, TotalSeconds = clock.Elapsed.TotalSeconds, ContentChunks = contentChunks };
                    }
                }
                if (choice.GetProperty("finish_reason").ValueKind == JsonValueKind.String)
                {
                    finish = choice.GetProperty("finish_reason").GetString();
                    var timings = root.GetProperty("timings");
                    promptMs = timings.GetProperty("prompt_ms").GetDouble();
                    predictedPerSecond = timings.GetProperty("predicted_per_second").GetDouble();
                }
            }
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or IndexOutOfRangeException or IOException)
        {
            problem ??= $"malformed stream: {e.Message}";
        }
        if (!done) problem ??= "no [DONE]";
        if (!sawRole) problem ??= "first chat chunk without the assistant role";
        if (tokens < 0) problem ??= "no usage chunk";
        problem ??= Incomplete(finish, tokens, spec);
        return new Outcome
        {
            Status = 200, Id = id, Text = text.ToString(), CompletionTokens = tokens, FinishReason = finish, CachedTokens = cached,
            PromptMs = promptMs, PredictedPerSecond = predictedPerSecond,
            FirstTokenSeconds = first, TotalSeconds = clock.Elapsed.TotalSeconds, StreamSeconds = lastContent - first, ContentChunks = contentChunks, Problem = problem,
        };
    }

    private static string? Incomplete(string? finish, int tokens, RequestSpec spec) => finish switch
    {
        null => "no finish reason",
        "length" when tokens != spec.MaxTokens => $"finish_reason length after {tokens} of {spec.MaxTokens} tokens",
        "length" or "stop" => tokens < 1 && finish == "length" ? "no tokens" : null,
        _ => $"unexpected finish_reason {finish}",
    };

    private static string? ErrorShape(string body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            var e = doc.RootElement.GetProperty("error");
            return e.GetProperty("message").ValueKind == JsonValueKind.String && e.TryGetProperty("type", out _) && e.TryGetProperty("param", out _) && e.TryGetProperty("code", out _)
                ? null : "error without OpenAI's shape";
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return $"error body is not OpenAI's shape: {body}";
        }
    }
}
