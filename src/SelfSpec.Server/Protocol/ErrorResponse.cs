using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace SelfSpec.Server.Protocol;

/// <summary>Writes OpenAI's error shape: <c>{"error":{"message","type","param","code"}}</c>.</summary>
internal static class ErrorResponse
{
    public static void Write(Utf8JsonWriter w, string message, string type, string? param, string? code)
    {
        w.WriteStartObject();
        w.WriteStartObject("error");
        w.WriteString("message", message);
        w.WriteString("type", type);
        if (param != null) w.WriteString("param", param); else w.WriteNull("param");
        if (code != null) w.WriteString("code", code); else w.WriteNull("code");
        w.WriteEndObject();
        w.WriteEndObject();
    }

    public static byte[] ToBytes(ApiException e)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer)) Write(w, e.Message, e.Type, e.Param, e.Code);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Answers the request with the error, unless the response has already started.</summary>
    public static async Task SendAsync(HttpContext context, ApiException e)
    {
        var response = context.Response;
        if (response.HasStarted) return;
        response.StatusCode = e.Status;
        response.ContentType = "application/json";
        if (e.RetryAfterSeconds is int seconds) response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (e.Status == 401) response.Headers.WWWAuthenticate = "Bearer";
        await response.Body.WriteAsync(ToBytes(e), context.RequestAborted).ConfigureAwait(false);
    }

    public static ApiException Internal() =>
        new(500, "the server failed while handling this request; it has been logged", type: "server_error", code: "internal_error");
}
