using System.Text.Json;
using Microsoft.AspNetCore.Http;
using SelfSpec.Server.Generation;
using SelfSpec.Server.Hosting;

namespace SelfSpec.Server.Endpoints;

/// <summary>GET /health, /v1/models and /metrics: what the server holds, without generating anything.</summary>
internal static class InfoEndpoints
{
    public static async Task HealthAsync(HttpContext context, ModelHost host)
    {
        bool ready = host.IsReady;
        context.Response.StatusCode = ready ? 200 : 503;
        context.Response.ContentType = "application/json";
        var body = ready ? """{"status":"ok"}"""u8.ToArray() : JsonSerializeStatus(host.LoadError);
        await context.Response.Body.WriteAsync(body, context.RequestAborted).ConfigureAwait(false);
    }

    private static byte[] JsonSerializeStatus(string? error)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("status", error == null ? "loading" : "error");
            if (error != null) w.WriteString("message", error);
            w.WriteEndObject();
        }
        return buffer.ToArray();
    }

    public static async Task ModelsAsync(HttpContext context, ModelHost host)
    {
        if (!host.IsReady) throw new Protocol.ApiException(503, "the model is still loading; retry shortly", type: "server_error", code: "model_loading") { RetryAfterSeconds = 1 };
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("object", "list");
            w.WriteStartArray("data");
            // The alias comes first: clients that take the first model get the name the operator chose.
            if (host.Options.Alias is { } alias) Model(w, alias, host);
            Model(w, host.ModelId, host);
            w.WriteEndArray();
            w.WriteEndObject();
        }
        context.Response.ContentType = "application/json";
        await context.Response.Body.WriteAsync(buffer.ToArray(), context.RequestAborted).ConfigureAwait(false);
    }

    private static void Model(Utf8JsonWriter w, string id, ModelHost host)
    {
        var m = host.Model;
        w.WriteStartObject();
        w.WriteString("id", id);
        w.WriteString("object", "model");
        w.WriteNumber("created", new DateTimeOffset(File.GetLastWriteTimeUtc(m.Path)).ToUnixTimeSeconds());
        w.WriteString("owned_by", "selfspec");
        w.WriteStartObject("meta");
        w.WriteString("architecture", m.Config.Architecture);
        w.WriteNumber("n_ctx", host.ContextLength);
        w.WriteNumber("n_ctx_train", m.Config.ContextLength);
        w.WriteNumber("n_layer", m.Config.LayerCount);
        w.WriteNumber("n_vocab", m.Config.VocabSize);
        w.WriteNumber("size", m.FileSize);
        if (m.SidecarPath != null) w.WriteString("calibration", m.SidecarPath); else w.WriteNull("calibration");
        w.WriteEndObject();
        w.WriteEndObject();
    }

    public static async Task MetricsAsync(HttpContext context, ModelHost host, ServerMetrics metrics)
    {
        var service = host.IsReady ? context.RequestServices.GetService(typeof(IGenerationService)) as IGenerationService : null;
        string text = metrics.Render(service?.Waiting ?? 0, service?.Running ?? 0, host.IsReady);
        context.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
        await context.Response.WriteAsync(text, context.RequestAborted).ConfigureAwait(false);
    }
}
