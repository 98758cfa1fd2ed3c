using Microsoft.AspNetCore.Http;

namespace SelfSpec.Server.Endpoints;

/// <summary>GET /: the chat page, one HTML file embedded in the assembly (no build step, no files beside the binary).</summary>
internal static class ChatPage
{
    private static readonly Lazy<byte[]> Html = new(() =>
    {
        using var stream = typeof(ChatPage).Assembly.GetManifestResourceStream("SelfSpec.Server.index.html")
            ?? throw new InvalidOperationException("the chat page is missing from the assembly");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    });

    public static async Task SendAsync(HttpContext context)
    {
        context.Response.ContentType = "text/html; charset=utf-8";
        context.Response.Headers.CacheControl = "no-cache";
        await context.Response.Body.WriteAsync(Html.Value, context.RequestAborted).ConfigureAwait(false);
    }
}
