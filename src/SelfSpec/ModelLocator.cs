namespace SelfSpec;

/// <summary>
/// Finds the model to load: an explicit path, then the SELFSPEC_MODEL environment variable, then the
/// bundled SmolLM2 file under ../shared/models/ beside the repository root (searched upward from the
/// working directory and from the program's own folder).
/// </summary>
public static class ModelLocator
{
    public const string EnvironmentVariable = "SELFSPEC_MODEL";
    public const string BundledFileName = "SmolLM2-135M-Instruct.Q4_1.gguf";

    public static string Resolve(string? explicitPath)
    {
        if (!string.IsNullOrWhiteSpace(explicitPath)) return explicitPath;
        string? fromEnv = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(fromEnv)) return fromEnv;
        return FindBundled() ?? throw new InvalidRequestException(
            $"no model given: pass --model PATH, set {EnvironmentVariable}, or place {BundledFileName} in ../shared/models/ beside the repository " +
            "(any llama or qwen2 GGUF works, e.g. a Q4_0/Q4_1/Q8_0 quantization downloaded from Hugging Face)");
    }

    /// <summary>The bundled model's path, or null when it is not beside this checkout.</summary>
    public static string? FindBundled()
    {
        foreach (string start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir != null; dir = dir.Parent)
            {
                string candidate = Path.Combine(dir.FullName, "shared", "models", BundledFileName);
                if (File.Exists(candidate)) return candidate;
                candidate = Path.Combine(dir.FullName, "..", "shared", "models", BundledFileName);
                if (File.Exists(candidate)) return Path.GetFullPath(candidate);
            }
        }
        return null;
    }
}
