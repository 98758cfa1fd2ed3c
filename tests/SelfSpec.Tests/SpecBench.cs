using System.Text.Json;

namespace SelfSpec.Tests;

/// <summary>The Spec-Bench development questions, and the raw ChatML prompt the oracle tests feed both engines.</summary>
internal static class SpecBench
{
    public sealed record Question(int Id, string Category, string[] Turns);

    public static IReadOnlyList<Question> Load() =>
        File.ReadLines(TestModels.SpecBenchQuestions)
            .Where(l => l.Trim().Length > 0)
            .Select(l =>
            {
                using var doc = JsonDocument.Parse(l);
                var root = doc.RootElement;
                return new Question(root.GetProperty("question_id").GetInt32(), root.GetProperty("category").GetString()!,
                    [.. root.GetProperty("turns").EnumerateArray().Select(t => t.GetString()!)]);
            })
            .ToList();

    /// <summary>Every sixth question (40 of 240): all six tasks, in file order.</summary>
    public static IReadOnlyList<Question> Stratified40() => Load().Where((_, i) => i % 6 == 0).ToList();

    /// <summary>SmolLM2's ChatML for one user turn, written out as raw text with special tokens.</summary>
    public static string ChatMl(string user) =>
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n" +
        $"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n";
}
