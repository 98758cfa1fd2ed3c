using System.CommandLine;

namespace SelfSpec.Cli;

/// <summary>Options shared by several commands.</summary>
internal static class CommonOptions
{
    public static Option<string?> Model() => new("--model", "-m")
    {
        Description = $"GGUF model file (default: ${ModelLocator.EnvironmentVariable}, then the bundled ../shared/models/{ModelLocator.BundledFileName})",
    };

    public static Option<int> Threads() => new("--threads", "-t")
    {
        Description = "worker threads (0 = one per core)",
        DefaultValueFactory = _ => 0,
    };
}
