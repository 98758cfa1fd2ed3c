using System.Text.Json;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using TemplateMessage = SelfSpec.Tokenization.ChatMessage;

namespace SelfSpec.Server.Tests.Server;

/// <summary>
/// The chat page in a real browser: headless chromium (Debian's, driven by playwright-core from npm) loads /, sends a
/// message, sees the reply streamed in with its tokens/s and accepted draft length; the screenshot is kept as a test
/// artifact (chat-page.png beside the test binaries).
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class ChatPageTests(ModelFixture fx)
{
    [Fact]
    public async Task PageStreamsAReplyInHeadlessChromium()
    {
        string chromium = new[] { "/usr/bin/chromium", "/usr/bin/chromium-browser" }.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("chromium is required (Debian: apt-get install chromium)");
        string dir = NodeScripts.Folder();
        await NodeScripts.EnsureInstalledAsync(dir);

        var expected = fx.Greedy(fx.Model.TokenizeChat([new TemplateMessage("user", "What is 2+2?")]), 24);
        await using var app = SelfSpecServer.Build(new ServerOptions { Port = 0 }, fx.Model);
        await app.StartAsync();
        string address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        string screenshot = Path.Combine(AppContext.BaseDirectory, "chat-page.png");
        File.Delete(screenshot);
        var (rc, output) = await NodeScripts.RunAsync("node", dir, ["page.mjs"],
            new() { ["SELFSPEC_URL"] = address + "/", ["CHROMIUM"] = chromium, ["SCREENSHOT"] = screenshot });
        Assert.True(rc == 0, output);
        var json = JsonDocument.Parse(output.Split('\n').Last(l => l.StartsWith('{'))).RootElement;
        Assert.False(json.GetProperty("error").GetBoolean(), output);
        Assert.Equal(fx.ModelId, json.GetProperty("model").GetString());
        Assert.Equal(expected.Text, json.GetProperty("reply").GetString());
        Assert.Contains("tokens/s", json.GetProperty("stats").GetString());
        Assert.Contains("accepted draft length", json.GetProperty("stats").GetString());
        if (expected.OutputTokens.Length > 2) Assert.True(json.GetProperty("partials").GetInt32() > 1, "the page applied the reply in one piece, not as a stream");
        Assert.True(new FileInfo(screenshot).Length > 0);
    }
}
