using System.Text.Json;

namespace SelfSpec.Calibration;

/// <summary>
/// The JSONL prompt files the benchmark harness and calibration read: one JSON value a line, blank lines skipped,
/// a line that is not JSON reported with its file and line number.
/// </summary>
internal static class JsonLines
{
    public static IEnumerable<(int LineNumber, JsonElement Root)> Read(string path)
    {
        if (!File.Exists(path)) throw new InvalidRequestException($"prompt file {path} does not exist");
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
            yield return (lineNumber, root);
        }
    }
}
