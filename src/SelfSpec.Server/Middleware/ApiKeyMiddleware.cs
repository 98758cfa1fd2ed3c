using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using SelfSpec.Server.Protocol;

namespace SelfSpec.Server.Middleware;

/// <summary>
/// With an API key set, every route but /health, /v1/models and the chat page wants <c>Authorization: Bearer KEY</c>.
/// Keys are compared through their SHA-256 hashes in constant time, so neither the key's content nor its length leaks
/// through response timing.
/// </summary>
internal sealed class ApiKeyMiddleware(RequestDelegate next, ServerOptions options)
{
    private readonly byte[]? _keyHash = options.ApiKey == null ? null : SHA256.HashData(Encoding.UTF8.GetBytes(options.ApiKey));

    public Task InvokeAsync(HttpContext context)
    {
        if (_keyHash == null || IsPublic(context.Request)) return next(context);
        string header = context.Request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            throw new ApiException(401, "an API key is required: send Authorization: Bearer KEY", code: "invalid_api_key");
        var given = SHA256.HashData(Encoding.UTF8.GetBytes(header["Bearer ".Length..].Trim()));
        if (!CryptographicOperations.FixedTimeEquals(given, _keyHash))
            throw new ApiException(401, "the API key is not valid", code: "invalid_api_key");
        return next(context);
    }

    private static bool IsPublic(HttpRequest request)
    {
        if (!HttpMethods.IsGet(request.Method) && !HttpMethods.IsHead(request.Method)) return false;
        var path = request.Path;
        return path == "/" || path == "/health" || path.StartsWithSegments("/v1/models");
    }
}
