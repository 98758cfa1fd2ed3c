using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using SelfSpec.Server.Hosting;

namespace SelfSpec.Server.Middleware;

/// <summary>Counts every answered request by route template (not raw path, which a client could vary without end) and status.</summary>
internal sealed class RequestCounter(RequestDelegate next, ServerMetrics metrics)
{
    public async Task InvokeAsync(HttpContext context)
    {
        try
        {
            await next(context).ConfigureAwait(false);
        }
        finally
        {
            string route = context.GetEndpoint() is RouteEndpoint { RoutePattern.RawText: { } raw } && !raw.Contains("{*", StringComparison.Ordinal)
                ? (raw.StartsWith('/') ? raw : "/" + raw)
                : "other";
            metrics.CountRequest(route, context.Response.StatusCode);
        }
    }
}
