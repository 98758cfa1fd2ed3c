using System.CommandLine;
using SelfSpec.Tokenization;

namespace SelfSpec.Cli;

/// <summary>Options shared by several commands.</summary>
internal static class CommonOptions
{
    public static Option<string?> Model() => new("--model", "-m")
    {
        Description = $"GGUF model file (default: ${ModelLocator.EnvironmentVariable}, then the bundled ../shared/models/{ModelLocator.BundledFileName})",
    };

    public static Option<string?> Sidecar() => new("--sidecar")
    {
        Description = "calibration sidecar: a path, or 'none' (default: MODEL.selfspec beside the model when it exists)",
    };

    /// <summary>Loads the model with the sidecar choice; a refused sidecar is a one-line warning on stderr.</summary>
    public static LanguageModel Load(string path, int threads, string? sidecar)
    {
        var lm = LanguageModel.Load(path, ModelLoadOptions.FromCommandLine(threads, sidecar));
        if (lm.SidecarWarning != null) Console.Error.WriteLine($"selfspec: warning: {lm.SidecarWarning}");
        return lm;
    }

    /// <summary>--no-thinking: Qwen3's enable_thinking=false (<see cref="ChatTemplateOptions.EnableThinking"/>).</summary>
    public static Option<bool> NoThinking() => new("--no-thinking")
    {
        Description = "ask a template with thinking tags (Qwen3) for replies without reasoning (its enable_thinking=false); others ignore it",
    };

    public static ChatTemplateOptions TemplateOptions(ParseResult r, Option<bool> noThinking) =>
        new() { EnableThinking = !r.GetValue(noThinking) };

    public static Option<int> Threads() => new("--threads", "-t")
    {
        Description = "worker threads (0 = one per core)",
        DefaultValueFactory = _ => 0,
    };
}
