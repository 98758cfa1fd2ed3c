namespace SelfSpec.Tests;

/// <summary>Paths of the real models beside the checkout (../shared/models). Real-model tests require them.</summary>
internal static class TestModels
{
    public static string Bundled => ModelLocator.FindBundled()
        ?? throw new InvalidOperationException("bundled model ../shared/models/SmolLM2-135M-Instruct.Q4_1.gguf not found");

    public static string Q4_0 => Path.Combine(Path.GetDirectoryName(Bundled)!, "requantized", "SmolLM2-135M-Instruct.Q4_0.gguf");

    public static string SpecBenchQuestions => Path.GetFullPath(Path.Combine(Path.GetDirectoryName(Bundled)!, "..", "data", "spec-bench", "questions.dev.jsonl"));
}
