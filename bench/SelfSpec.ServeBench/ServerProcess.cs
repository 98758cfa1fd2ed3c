using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace SelfSpec.ServeBench;

/// <summary>
/// <c>selfspec serve</c> as a child process on a free loopback port: started, waited for until /health says 200,
/// its resident memory read from /proc, stopped at the end.
/// </summary>
internal sealed partial class ServerProcess : IAsyncDisposable
{
    private readonly Process _process;

    private ServerProcess(Process process, Uri address)
    {
        _process = process;
        Address = address;
    }

    public Uri Address { get; }
    public int Pid => _process.Id;

    public static ProcessStartInfo Cli(params string[] args) => CliIn(AppContext.BaseDirectory, args);

    /// <summary>The CLI of another build (its output folder), for A/B runs of two versions side by side.</summary>
    public static ProcessStartInfo CliIn(string folder, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(folder, "SelfSpec.Cli.dll"));
        foreach (string a in args) psi.ArgumentList.Add(a);
        psi.Environment.Remove("SELFSPEC_API_KEY");
        return psi;
    }

    public static Task<ServerProcess> StartAsync(params string[] serveArgs) => StartInAsync(AppContext.BaseDirectory, serveArgs);

    public static async Task<ServerProcess> StartInAsync(string folder, params string[] serveArgs)
    {
        var process = Process.Start(CliIn(folder, ["serve", "--port", "0", .. serveArgs]))!;
        _ = process.StandardOutput.ReadToEndAsync();
        var deadline = DateTime.UtcNow.AddMinutes(3);
        Uri? address = null;
        while (address == null && DateTime.UtcNow < deadline)
        {
            string? line = await process.StandardError.ReadLineAsync().WaitAsync(TimeSpan.FromMinutes(3));
            if (line == null) break;
            if (Listening().Match(line) is { Success: true } m) address = new Uri(m.Groups[1].Value);
        }
        if (address == null)
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            throw new InvalidOperationException("selfspec serve did not start listening");
        }
        _ = process.StandardError.ReadToEndAsync();
        var server = new ServerProcess(process, address);
        using var http = new HttpClient { BaseAddress = address };
        while (DateTime.UtcNow < deadline)
        {
            using var r = await http.GetAsync("/health");
            if (r.IsSuccessStatusCode) return server;
            await Task.Delay(100);
        }
        await server.DisposeAsync();
        throw new InvalidOperationException("selfspec serve did not become ready");
    }

    /// <summary>Resident memory now (VmRSS), in bytes.</summary>
    public long ResidentBytes()
    {
        foreach (string line in File.ReadLines($"/proc/{_process.Id}/status"))
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                return long.Parse(line["VmRSS:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
        throw new InvalidOperationException("no VmRSS in /proc status");
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }

    [GeneratedRegex(@"listening on (http://[^ ,]+)")]
    private static partial Regex Listening();
}
