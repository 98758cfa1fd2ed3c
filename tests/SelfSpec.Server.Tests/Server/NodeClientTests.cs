using System.Diagnostics;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using TemplateMessage = SelfSpec.Tokenization.ChatMessage;

namespace SelfSpec.Server.Tests.Server;

/// <summary>
/// The npm <c>openai</c> package (pinned in tests/SelfSpec.Server.Tests/Node/package.json) from a Node script against the
/// Kestrel server: greedy text whole and streamed equals the library's. Needs node and npm; the packages are installed
/// on first use (<c>.ci/run</c> installs them beforehand).
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class NodeClientTests(ModelFixture fx)
{
    [Fact]
    public async Task NpmOpenAiClientStreamingAndNotEqualsLibraryGreedy()
    {
        string dir = NodeFolder();
        if (!File.Exists(Path.Combine(dir, "node_modules", "openai", "package.json")))
        {
            var (installed, log) = await RunAsync("npm", dir, ["install", "--no-audit", "--no-fund", "--loglevel=error"], null);
            Assert.True(installed == 0, log);
        }

        var expected = fx.Greedy(fx.Model.TokenizeChat([new TemplateMessage("system", "Be brief."), new TemplateMessage("user", "What is 2+2?")]), 24);
        await using var app = SelfSpecServer.Build(new ServerOptions { Port = 0, ApiKey = "node-key", Alias = "smol" }, fx.Model);
        await app.StartAsync();
        string address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        var (rc, output) = await RunAsync("node", dir, ["client.mjs"], new() { ["SELFSPEC_BASE_URL"] = address + "/v1", ["SELFSPEC_API_KEY"] = "node-key" });
        Assert.True(rc == 0, output);
        var json = JsonDocument.Parse(output.Split('\n').Last(l => l.StartsWith('{'))).RootElement;
        Assert.Equal(expected.Text, json.GetProperty("text").GetString());
        Assert.Equal(expected.Text, json.GetProperty("streamed").GetString());
        Assert.Equal(expected.OutputTokens.Length, json.GetProperty("completion_tokens").GetInt32());
        Assert.Equal(json.GetProperty("finish").GetString(), json.GetProperty("stream_finish").GetString());
        Assert.Equal(expected.OutputTokens.Length, json.GetProperty("stream_usage").GetProperty("completion_tokens").GetInt32());
        Assert.Equal(400, json.GetProperty("refused").GetProperty("status").GetInt32());
        Assert.Equal("n", json.GetProperty("refused").GetProperty("param").GetString());
    }

    private static string NodeFolder()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
        {
            string candidate = Path.Combine(d.FullName, "Node");
            if (File.Exists(Path.Combine(candidate, "client.mjs"))) return candidate;
        }
        throw new InvalidOperationException("tests/SelfSpec.Server.Tests/Node/client.mjs not found above the test binaries");
    }

    private static async Task<(int ExitCode, string Output)> RunAsync(string program, string dir, string[] args, Dictionary<string, string>? env)
    {
        var psi = new ProcessStartInfo(program) { WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in args) psi.ArgumentList.Add(a);
        foreach (var (k, v) in env ?? []) psi.Environment[k] = v;
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"{program} could not be started");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} {string.Join(' ', args)} did not finish in 3 minutes");
        }
        return (p.ExitCode, await stdout + await stderr);
    }
}
