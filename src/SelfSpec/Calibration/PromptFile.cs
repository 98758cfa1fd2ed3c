using System.Text.Json;
using SelfSpec.Tokenization;

namespace SelfSpec.Calibration;

/// <summary>
/// One prompt of a JSONL prompt file (<see cref="PromptFile"/>).
/// </summary>
/// <param name="LineNumber">the line it was read from, counting from 1</param>
/// <param name="Id">the object's <c>question_id</c> as written, or null</param>
/// <param name="Category">the object's <c>category</c>, or null</param>
/// <param name="Text">the raw prompt, or the first turn of a chat</param>
/// <param name="IsChat">an object with <c>turns</c> (the text is a user message for the chat template), not a raw string</param>
public sealed record PromptFileEntry(int LineNumber, string? Id, string? Category, string Text, bool IsChat);

/// <summary>
/// The JSONL prompt files that calibration and the benchmark harness read: one JSON value a line, blank lines skipped;
/// each a JSON string (a raw prompt, used as written) or an object with a non-empty <c>turns</c> array of strings (the
/// first turn becomes a user message in the chat template), with an optional <c>category</c> (its task) and
/// <c>question_id</c>. A line that is neither is reported with its file and line number.
/// </summary>
public static class PromptFile
{
    /// <summary>Reads every prompt of the file, in order.</summary>
    /// <exception cref="InvalidRequestException">the file does not exist, or a line is not JSON or not a prompt</exception>
    public static IReadOnlyList<PromptFileEntry> Read(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path)) throw new InvalidRequestException($"prompt file {path} does not exist");
        var entries = new List<PromptFileEntry>();
        int lineNumber = 0;
        foreach (string line in File.ReadLines(path))
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            JsonElement root;
            try
            {
                using var doc = JsonDocument.Parse(line);
                root = doc.RootElement.Clone();
            }
            catch (JsonException e)
            {
                throw new InvalidRequestException($"{path}:{lineNumber}: not valid JSON ({e.Message})");
            }
            if (root.ValueKind == JsonValueKind.String)
            {
                entries.Add(new PromptFileEntry(lineNumber, null, null, root.GetString()!, IsChat: false));
                continue;
            }
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("turns", out var turns)
                || turns.ValueKind != JsonValueKind.Array || turns.GetArrayLength() == 0 || turns[0].ValueKind != JsonValueKind.String)
                throw new InvalidRequestException($"{path}:{lineNumber}: expected a JSON string or an object with a non-empty \"turns\" array of strings");
            string? id = root.TryGetProperty("question_id", out var q) ? q.ToString() : null;
            string? category = root.TryGetProperty("category", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString()! : null;
            entries.Add(new PromptFileEntry(lineNumber, id, category, turns[0].GetString()!, IsChat: true));
        }
        return entries;
    }

    /// <summary>A file's prompts tokenized for calibration: raw strings as written, chat turns through the template.</summary>
    internal static List<(string Task, int[] Tokens)> Load(string path, LanguageModel lm)
    {
        var prompts = Read(path).Select(e => e.IsChat
            ? (e.Category ?? "chat", lm.TokenizeChat([new ChatMessage("user", e.Text)]))
            : ("raw", lm.Tokenize(e.Text))).ToList();
        if (prompts.Count < 2) throw new InvalidRequestException($"prompt file {path} holds {prompts.Count} prompts; calibration needs at least 2 (one is held out)");
        return prompts;
    }

    /// <summary>The built-in set (<see cref="BuiltInPrompts"/>) as chat prompts.</summary>
    internal static List<(string Task, int[] Tokens)> BuiltIn(LanguageModel lm) =>
        BuiltInPrompts.All.Select(p => (p.Task, lm.TokenizeChat([new ChatMessage("user", p.Text)]))).ToList();
}
