using System.Diagnostics;

namespace SelfSpec.Server.Tests.Server;

/// <summary>Runs the Node scripts in tests/SelfSpec.Server.Tests/Node, installing their pinned npm packages on first use.</summary>
internal static class NodeScripts
{
    public static async Task EnsureInstalledAsync(string dir)
    {
        if (File.Exists(Path.Combine(dir, "node_modules", "openai", "package.json")) && File.Exists(Path.Combine(dir, "node_modules", "playwright-core", "package.json"))) return;
        var (rc, log) = await RunAsync("npm", dir, ["install", "--no-audit", "--no-fund", "--loglevel=error"], null);
        Assert.True(rc == 0, log);
    }

    public static string Folder()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
        {
            string candidate = Path.Combine(d.FullName, "Node");
            if (File.Exists(Path.Combine(candidate, "client.mjs"))) return candidate;
        }
        throw new InvalidOperationException("tests/SelfSpec.Server.Tests/Node/client.mjs not found above the test binaries");
    }

    public static async Task<(int ExitCode, string Output)> RunAsync(string program, string dir, string[] args, Dictionary<string, string>? env)
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
