using System.Diagnostics;

namespace SelfSpec.Tests.Cli;

/// <summary>Runs the built <c>selfspec</c> CLI (SelfSpec.Cli.dll beside the tests) as a child process.</summary>
internal static class CliRunner
{
    public sealed record Result(int ExitCode, string StdOut, string StdErr);

    public static Result Run(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "SelfSpec.Cli.dll"));
        foreach (string a in args) psi.ArgumentList.Add(a);
        psi.Environment.Remove(ModelLocator.EnvironmentVariable);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(120_000))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"selfspec {string.Join(' ', args)} did not finish in 120 s");
        }
        return new Result(p.ExitCode, stdout.Result, stderr.Result);
    }
}
