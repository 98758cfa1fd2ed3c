using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace SelfSpec.Server.Tests.Server;

/// <summary>
/// The server in process (ASP.NET Core's test server) over a model already loaded, with the options a test needs.
/// The entry-point type is this test assembly's own (the factory wants an assembly with an entry point; the server is a
/// library hosted by the CLI).
/// </summary>
public sealed class ServerFactory(ServerOptions options, LanguageModel? model, Action<IServiceCollection>? services = null)
    : WebApplicationFactory<ServerFactory>
{
    protected override IHostBuilder CreateHostBuilder() =>
        Host.CreateDefaultBuilder().ConfigureWebHost(w => w
            .ConfigureServices(s =>
            {
                s.AddSelfSpecServer(options, model);
                services?.Invoke(s);
            })
            .Configure(app => app.UseSelfSpecServer()));

    // The factory would look for a content root named after the test project beside the solution; the server serves
    // no files from disk, so the test binaries' folder will do.
    protected override void ConfigureWebHost(IWebHostBuilder builder) => builder.UseContentRoot(AppContext.BaseDirectory);
}
