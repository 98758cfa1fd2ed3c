using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace SelfSpec.Server.Tests.Server;

/// <summary>The server in process (ASP.NET Core's test server) over a model already loaded, with the options a test needs.</summary>
public sealed class ServerFactory(ServerOptions options, LanguageModel? model, Action<IServiceCollection>? services = null)
    : WebApplicationFactory<ServerOptions>
{
    protected override IHostBuilder CreateHostBuilder() =>
        Host.CreateDefaultBuilder().ConfigureWebHost(w => w
            .ConfigureServices(s =>
            {
                s.AddSelfSpecServer(options, model);
                services?.Invoke(s);
            })
            .Configure(app => app.UseSelfSpecServer()));
}
