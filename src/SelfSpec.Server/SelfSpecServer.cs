using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using SelfSpec.Server.Generation;
using SelfSpec.Server.Endpoints;
using SelfSpec.Server.Hosting;
using SelfSpec.Server.Middleware;
using SelfSpec.Server.Protocol;

namespace SelfSpec.Server;

/// <summary>
/// The OpenAI-compatible server: its services, its pipeline and its routes, usable from any ASP.NET Core host
/// (<see cref="Build"/> makes the Kestrel one <c>selfspec serve</c> runs).
/// </summary>
public static class SelfSpecServer
{
    /// <summary>Registers the server's services; with <paramref name="model"/> given, it is served as is (not loaded, not disposed).</summary>
    public static IServiceCollection AddSelfSpecServer(this IServiceCollection services, ServerOptions options, LanguageModel? model = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        services.AddRouting();
        services.AddSingleton(options);
        services.AddSingleton(_ => model == null ? new ModelHost(options) : new ModelHost(options, model));
        // The seam a scheduler replaces: resolved per request, once the model is ready.
        services.TryAddSingleton<IGenerationService>(sp => sp.GetRequiredService<ModelHost>().Generation);
        services.AddSingleton<ServerMetrics>();
        services.AddSingleton<CompletionEndpoint>();
        services.AddHostedService<ModelLoader>();
        services.Configure<KestrelServerOptions>(k => k.Limits.MaxRequestBodySize = options.MaxBodyBytes);
        return services;
    }

    /// <summary>The request pipeline: counting, errors in OpenAI's shape, the API key, then the routes.</summary>
    public static IApplicationBuilder UseSelfSpecServer(this IApplicationBuilder app)
    {
        app.UseMiddleware<RequestCounter>();
        app.UseMiddleware<ErrorMiddleware>();
        app.UseStatusCodePages(c => ErrorResponse.SendAsync(c.HttpContext, StatusError(c.HttpContext.Response.StatusCode)));
        app.UseRouting();
        app.UseMiddleware<ApiKeyMiddleware>();
        app.UseEndpoints(Map);
        return app;
    }

    private static void Map(IEndpointRouteBuilder e)
    {
        e.MapPost("/v1/chat/completions", c => Completions(c).HandleAsync(c, chat: true));
        e.MapPost("/v1/completions", c => Completions(c).HandleAsync(c, chat: false));
        e.MapGet("/v1/models", c => InfoEndpoints.ModelsAsync(c, Host(c)));
        e.MapGet("/health", c => InfoEndpoints.HealthAsync(c, Host(c)));
        e.MapGet("/metrics", c => InfoEndpoints.MetricsAsync(c, Host(c), c.RequestServices.GetRequiredService<ServerMetrics>()));
        e.MapGet("/", ChatPage.SendAsync);
        e.Map("{*path}", c => throw new ApiException(404, $"no route {c.Request.Method} {c.Request.Path}", code: "not_found"));
    }

    private static CompletionEndpoint Completions(HttpContext c) => c.RequestServices.GetRequiredService<CompletionEndpoint>();
    private static ModelHost Host(HttpContext c) => c.RequestServices.GetRequiredService<ModelHost>();

    private static ApiException StatusError(int status) => status switch
    {
        404 => new ApiException(404, "not found", code: "not_found"),
        405 => new ApiException(405, "this route does not take that method", code: "method_not_allowed"),
        413 => new ApiException(413, "the request body is too large", code: "request_too_large"),
        _ => new ApiException(status, $"HTTP {status}", type: status >= 500 ? "server_error" : "invalid_request_error"),
    };

    /// <summary>The Kestrel server of <c>selfspec serve</c>, listening on <see cref="ServerOptions.Host"/>:<see cref="ServerOptions.Port"/>.</summary>
    /// <exception cref="InvalidRequestException">a bad setting, or a host that is not an IP address or "localhost"</exception>
    public static WebApplication Build(ServerOptions options, LanguageModel? model = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        builder.WebHost.ConfigureKestrel(k =>
        {
            if (options.Host == "localhost") k.ListenLocalhost(options.Port);
            else if (IPAddress.TryParse(options.Host, out var ip)) k.Listen(ip, options.Port);
            else throw new InvalidRequestException($"host '{options.Host}' must be an IP address or localhost");
        });
        builder.Services.AddSelfSpecServer(options, model);
        var app = builder.Build();
        app.UseSelfSpecServer();
        return app;
    }
}
