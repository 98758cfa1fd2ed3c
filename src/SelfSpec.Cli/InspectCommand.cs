using System.CommandLine;
using SelfSpec.Gguf;
using SelfSpec.Model;

namespace SelfSpec.Cli;

/// <summary><c>selfspec inspect PATH</c>: metadata, configuration and tensors of a GGUF file.</summary>
internal static class InspectCommand
{
    public static Command Create()
    {
        var path = new Argument<string>("path") { Description = "GGUF file" };
        var cmd = new Command("inspect", "print a GGUF file's metadata, model configuration and tensors") { path };
        cmd.SetAction(r => ExitCodes.Guard(() => Run(r.GetValue(path)!)));
        return cmd;
    }

    private static int Run(string path)
    {
        using var file = GgufFile.Open(path);
        var o = Console.Out;
        o.WriteLine($"file: {file.Path} ({file.FileSize:N0} bytes, GGUF v{file.Version}, alignment {file.Alignment})");
        o.WriteLine($"metadata: {file.Metadata.Count} entries");
        foreach (string key in file.MetadataKeys)
            o.WriteLine($"  {key} = {Describe(file.Metadata[key])}");
        o.WriteLine($"tensors: {file.Tensors.Count}");
        foreach (var group in file.Tensors.GroupBy(t => t.Type).OrderBy(g => g.Key))
            o.WriteLine($"  {group.Key}: {group.Count()} tensors, {group.Sum(t => t.ByteSize):N0} bytes");
        foreach (var t in file.Tensors)
            o.WriteLine($"  {t.Name,-32} {t.Type,-5} [{string.Join(", ", t.Dimensions)}]");
        try
        {
            var c = ModelConfig.FromGguf(file);
            o.WriteLine($"model: {c.Architecture}, {c.LayerCount} layers, embedding {c.EmbeddingDim}, feed-forward {c.FeedForwardDim}, " +
                $"{c.HeadCount} heads / {c.KvHeadCount} KV heads of {c.HeadDim}, context {c.ContextLength}, vocabulary {c.VocabSize}, " +
                $"RoPE {c.RopeLayout} base {c.RopeFreqBase}, RMS eps {c.RmsEpsilon}");
        }
        catch (SelfSpecException e)
        {
            o.WriteLine($"model: not runnable here: {e.Message}");
        }
        return ExitCodes.Ok;
    }

    private static string Describe(object value) => value switch
    {
        GgufArray a => $"[{a.ElementType} x {a.Count}] " + string.Join(", ", a.Values.Cast<object>().Take(5).Select(v => v is string s ? Quote(s) : v.ToString())) + (a.Count > 5 ? ", ..." : ""),
        string s => Quote(s),
        _ => value.ToString() ?? "",
    };

    private static string Quote(string s)
    {
        string escaped = s.Replace("\\", "\\\\").Replace("\n", "\\n").Replace("\"", "\\\"");
        return "\"" + (escaped.Length > 120 ? escaped[..120] + "..." : escaped) + "\"";
    }
}
