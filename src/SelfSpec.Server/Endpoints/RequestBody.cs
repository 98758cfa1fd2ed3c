using Microsoft.AspNetCore.Http;
using SelfSpec.Server.Protocol;

namespace SelfSpec.Server.Endpoints;

/// <summary>Reads a request body whole, refusing one over the limit with 413 before reading it all (whatever the transport).</summary>
internal static class RequestBody
{
    public static async Task<ReadOnlyMemory<byte>> ReadAsync(HttpRequest request, long limit, CancellationToken cancellation)
    {
        if (request.ContentLength > limit) throw TooLarge(limit);
        using var buffer = new MemoryStream();
        var chunk = new byte[16384];
        int n;
        while ((n = await request.Body.ReadAsync(chunk, cancellation).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + n > limit) throw TooLarge(limit);
            buffer.Write(chunk, 0, n);
        }
        if (buffer.Length == 0) throw ApiException.BadRequest("the request body is empty; a JSON object is expected", code: "invalid_json");
        return buffer.GetBuffer().AsMemory(0, (int)buffer.Length);
    }

    private static ApiException TooLarge(long limit) =>
        new(413, $"the request body is larger than the server's limit of {limit} bytes", code: "request_too_large");
}
