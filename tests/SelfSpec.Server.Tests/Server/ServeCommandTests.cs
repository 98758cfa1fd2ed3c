using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text.RegularExpressions;

namespace SelfSpec.Server.Tests.Server;

/// <summary><c>selfspec serve</c> as a child process on a free loopback port: it starts, loads, serves and refuses bad setups.</summary>
public sealed partial class ServeCommandTests
{
    private static ProcessStartInfo Cli(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "SelfSpec.Cli.dll"));
        foreach (string a in args) psi.ArgumentList.Add(a);
        psi.Environment.Remove("SELFSPEC_API_KEY");
        return psi;
    }

    [Fact]
    public async Task ServesOnAFreeLoopbackPortWithTheKeyFromTheEnvironment()
    {
        string model = ModelLocator.FindBundled()!;
        var psi = Cli("serve", "--model", model, "--port", "0", "--alias", "smol", "--threads", "1");
        psi.Environment["SELFSPEC_API_KEY"] = "from-env";
        using var p = Process.Start(psi)!;
        try
        {
            _ = p.StandardOutput.ReadToEndAsync();
            string? address = null;
            var deadline = DateTime.UtcNow.AddSeconds(120);
            while (address == null && DateTime.UtcNow < deadline)
            {
                string? line = await p.StandardError.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(120));
                if (line == null) break;
                if (Listening().Match(line) is { Success: true } m) address = m.Groups[1].Value;
            }
            Assert.NotNull(address);
            _ = p.StandardError.ReadToEndAsync();
            using var client = new HttpClient { BaseAddress = new Uri(address) };
            HttpStatusCode health = HttpStatusCode.ServiceUnavailable;
            while (health != HttpStatusCode.OK && DateTime.UtcNow < deadline)
            {
                using var r = await client.GetAsync("/health");
                health = r.StatusCode;
                if (health != HttpStatusCode.OK) await Task.Delay(100);
            }
            Assert.Equal(HttpStatusCode.OK, health);

            const string body = """{"model":"smol","prompt":"Hello","max_tokens":3}""";
            using (var open = await client.PostAsync("/v1/completions", Http.Json(body)))
                Assert.Equal(HttpStatusCode.Unauthorized, open.StatusCode);
            var request = new HttpRequestMessage(HttpMethod.Post, "/v1/completions") { Content = Http.Json(body) };
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "from-env");
            using var ok = await client.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }
        finally
        {
            if (!p.HasExited) p.Kill(entireProcessTree: true);
        }
    }

    [Theory]
    [InlineData("--model", "/nonexistent/model.gguf")]
    [InlineData("--host", "example.com", "--port", "0")]
    [InlineData("--port", "70000")]
    [InlineData("--remembered-answers", "-1")]
    public async Task BadSetupsExitWithCode2(params string[] args)
    {
        var all = new List<string> { "serve" };
        if (!args.Contains("--model")) all.AddRange(["--model", ModelLocator.FindBundled()!]);
        all.AddRange(args);
        using var p = Process.Start(Cli([.. all]))!;
        var stderr = p.StandardError.ReadToEndAsync();
        _ = p.StandardOutput.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        await p.WaitForExitAsync(cts.Token);
        Assert.Equal(2, p.ExitCode);
        Assert.StartsWith("selfspec: ", await stderr);
    }

    [GeneratedRegex(@"listening on (http://127\.0\.0\.1:\d+)")]
    private static partial Regex Listening();
}
