using Microsoft.AspNetCore.Http;

namespace SelfSpec.Server.Endpoints;

/// <summary>
/// Server-sent events as OpenAI sends them: unnamed <c>data:</c> events, each flushed at once, ending with <c>data: [DONE]</c>.
/// An event is copied into the response's pipe whole and flushed once (one write and one flush per token).
/// </summary>
internal sealed class SseWriter(HttpResponse response, CancellationToken cancellation)
{
    private static readonly byte[] Prefix = "data: "u8.ToArray();
    private static readonly byte[] Suffix = "\n\n"u8.ToArray();
    private static readonly byte[] Done = "data: [DONE]\n\n"u8.ToArray();

    public async Task StartAsync()
    {
        response.StatusCode = 200;
        response.ContentType = "text/event-stream; charset=utf-8";
        response.Headers.CacheControl = "no-cache";
        // Proxies such as nginx would otherwise hold the events back.
        response.Headers["X-Accel-Buffering"] = "no";
        await response.StartAsync(cancellation).ConfigureAwait(false);
    }

    public async Task WriteAsync(byte[] json)
    {
        var writer = response.BodyWriter;
        int length = Prefix.Length + json.Length + Suffix.Length;
        var span = writer.GetSpan(length);
        Prefix.CopyTo(span);
        json.CopyTo(span[Prefix.Length..]);
        Suffix.CopyTo(span[(Prefix.Length + json.Length)..]);
        writer.Advance(length);
        await writer.FlushAsync(cancellation).ConfigureAwait(false);
    }

    public async Task DoneAsync()
    {
        await response.BodyWriter.WriteAsync(Done, cancellation).ConfigureAwait(false);
    }
}
