using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using SelfSpec.Server.Generation;
using SelfSpec.Server.Protocol;

namespace SelfSpec.Server.Middleware;

/// <summary>
/// Turns every failure into OpenAI's error shape: refusals with their status, anything unexpected into a logged 500.
/// The server keeps serving whatever one request does.
/// </summary>
internal sealed partial class ErrorMiddleware(RequestDelegate next, ILogger<ErrorMiddleware> log)
{
    public async Task InvokeAsync(HttpContext context)
    {
        try
        {
            await next(context).ConfigureAwait(false);
        }
        catch (Exception) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away (cancelled, or the write to its closed connection failed): nobody is left to answer,
            // and a disconnect is not a server failure worth logging.
        }
        catch (Exception e)
        {
            var error = e switch
            {
                ApiException api => api,
                QueueFullException q => new ApiException(429, q.Message, type: "rate_limit_error", code: "queue_full") { RetryAfterSeconds = 1 },
                InvalidRequestException bad => ApiException.BadRequest(bad.Message),
                BadHttpRequestException http => new ApiException(http.StatusCode, http.Message, code: http.StatusCode == 413 ? "request_too_large" : null),
                _ => null,
            };
            if (error == null)
            {
                Failed(log, context.Request.Method, context.Request.Path, e);
                error = ErrorResponse.Internal();
            }
            if (context.Response.HasStarted) return;
            context.Response.Clear();
            await ErrorResponse.SendAsync(context, error).ConfigureAwait(false);
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "{Method} {Path} failed")]
    private static partial void Failed(ILogger log, string method, string path, Exception e);
}
