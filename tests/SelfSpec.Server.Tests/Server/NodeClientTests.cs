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
        string dir = NodeScripts.Folder();
        await NodeScripts.EnsureInstalledAsync(dir);

        var expected = fx.Greedy(fx.Model.TokenizeChat([new TemplateMessage("system", "Be brief."), new TemplateMessage("user", "What is 2+2?")]), 24);
        await using var app = SelfSpecServer.Build(new ServerOptions { Port = 0, ApiKey = "node-key", Alias = "smol" }, fx.Model);
        await app.StartAsync();
        string address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        var (rc, output) = await NodeScripts.RunAsync("node", dir, ["client.mjs"], new() { ["SELFSPEC_BASE_URL"] = address + "/v1", ["SELFSPEC_API_KEY"] = "node-key" });
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
}
