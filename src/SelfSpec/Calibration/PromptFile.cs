using System.Text.Json;
using SelfSpec.Tokenization;

namespace SelfSpec.Calibration;

/// <summary>
/// Calibration prompts from a JSONL file: each line a JSON string (a raw prompt, used as written) or an object with a
/// non-empty <c>turns</c> array of strings (the first turn becomes a user message in the chat template; an optional
/// <c>category</c> names its task). The same lines the benchmark harness reads.
/// </summary>
internal static class PromptFile
{
    public static List<(string Task, int[] Tokens)> Load(string path, LanguageModel lm)
    {
        var prompts = new List<(string, int[])>();
        foreach (var (lineNumber, root) in JsonLines.Read(path))
        {
            if (root.ValueKind == JsonValueKind.String)
            {
                prompts.Add(("raw", lm.Tokenize(root.GetString()!)));
                continue;
            }
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("turns", out var turns)
                || turns.ValueKind != JsonValueKind.Array || turns.GetArrayLength() == 0 || turns[0].ValueKind != JsonValueKind.String)
                throw new InvalidRequestException($"{path}:{lineNumber}: expected a JSON string or an object with a non-empty \"turns\" array of strings");
            string task = root.TryGetProperty("category", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString()! : "chat";
            prompts.Add((task, lm.TokenizeChat([new ChatMessage("user", turns[0].GetString()!)])));
        }
        if (prompts.Count < 2) throw new InvalidRequestException($"prompt file {path} holds {prompts.Count} prompts; calibration needs at least 2 (one is held out)");
        return prompts;
    }

    /// <summary>The built-in set (<see cref="BuiltInPrompts"/>) as chat prompts.</summary>
    public static List<(string Task, int[] Tokens)> BuiltIn(LanguageModel lm) =>
        BuiltInPrompts.All.Select(p => (p.Task, lm.TokenizeChat([new ChatMessage("user", p.Text)]))).ToList();
}
