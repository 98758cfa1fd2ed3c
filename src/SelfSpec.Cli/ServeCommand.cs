using System.CommandLine;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using SelfSpec.Decoding;
using SelfSpec.Server;
using SelfSpec.Server.Hosting;

namespace SelfSpec.Cli;

/// <summary><c>selfspec serve</c>: the OpenAI-compatible HTTP server over one model, until Ctrl+C.</summary>
internal static class ServeCommand
{
    public const string ApiKeyVariable = "SELFSPEC_API_KEY";

    public static Command Create()
    {
        var model = CommonOptions.Model();
        var threads = CommonOptions.Threads();
        var sidecar = CommonOptions.Sidecar();
        var host = new Option<string>("--host") { Description = "address to listen on (an IP address or localhost)", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int>("--port") { Description = "port to listen on (0 = any free port)", DefaultValueFactory = _ => 8080 };
        var apiKey = new Option<string?>("--api-key") { Description = $"require Authorization: Bearer KEY (default: ${ApiKeyVariable}; none = open)" };
        var alias = new Option<string?>("--alias") { Description = "another model name clients may use" };
        var ctx = new Option<int>("--ctx") { Description = "largest prompt + output in tokens (0 = the model's context)", DefaultValueFactory = _ => 0 };
        var maxQueue = new Option<int>("--max-queue") { Description = "requests that may wait behind the running ones; more get 429", DefaultValueFactory = _ => 16 };
        var cacheMb = new Option<int>("--cache-mb") { Description = "megabytes of keys and values kept across conversations for prompts sharing a beginning (0 = off)", DefaultValueFactory = _ => 0 };
        var parallel = new Option<int>("--parallel") { Description = "requests decoded together, sharing every forward pass (0 = one at a time)", DefaultValueFactory = _ => 4 };
        var method = new Option<string>("--method") { Description = "decoding method when a request names none: ar, specbound, hybrid, static, lookup", DefaultValueFactory = _ => "hybrid" };
        method.AcceptOnlyFromAmong([.. DecodingMethodNames.All]);
        var remembered = new Option<int>("--remembered-answers")
        {
            Description = "latest answers kept as drafts for later requests (lookup and hybrid, one at a time); 0 = none, as a fresh `generate` starts",
            DefaultValueFactory = _ => new ModelLoadOptions().RememberedAnswers,
        };

        var cmd = new Command("serve", "serve the model over an OpenAI-compatible HTTP API")
        {
            model, host, port, apiKey, alias, ctx, maxQueue, parallel, cacheMb, threads, sidecar, method, remembered,
        };
        cmd.SetAction(r => ExitCodes.Guard(() =>
        {
            var options = new ServerOptions
            {
                ModelPath = ModelLocator.Resolve(r.GetValue(model)),
                Host = r.GetValue(host)!,
                Port = r.GetValue(port),
                ApiKey = r.GetValue(apiKey) ?? NonEmpty(Environment.GetEnvironmentVariable(ApiKeyVariable)),
                Alias = r.GetValue(alias),
                ContextLength = r.GetValue(ctx),
                MaxQueue = r.GetValue(maxQueue),
                Parallel = r.GetValue(parallel),
                CacheMegabytes = r.GetValue(cacheMb),
                Threads = r.GetValue(threads),
                DefaultMethod = DecodingMethodNames.Parse(r.GetValue(method)!),
                LoadOptions = ModelLoadOptions.FromCommandLine(r.GetValue(threads), r.GetValue(sidecar)) with { RememberedAnswers = r.GetValue(remembered) },
            };
            // Checked here, before the server starts, rather than by the load behind a listening server.
            if (options.LoadOptions.RememberedAnswers is < 0 or > 4096)
                throw new InvalidRequestException($"remembered answers {options.LoadOptions.RememberedAnswers} must be between 0 and 4096");
            if (!File.Exists(options.ModelPath)) throw new InvalidRequestException($"model file {options.ModelPath} does not exist");
            return Run(options);
        }));
        return cmd;
    }

    private static string? NonEmpty(string? s) => string.IsNullOrEmpty(s) ? null : s;

    private static int Run(ServerOptions options)
    {
        using var app = SelfSpecServer.Build(options);
        app.Start();
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
        Console.Error.WriteLine($"selfspec: listening on {string.Join(", ", addresses)} (loading {options.ModelPath}; /health answers 200 once ready)");
        app.WaitForShutdown();
        var host = app.Services.GetRequiredService<ModelHost>();
        if (host.LoadError != null) throw new InvalidRequestException($"the model could not be loaded: {host.LoadError}");
        return ExitCodes.Ok;
    }
}
