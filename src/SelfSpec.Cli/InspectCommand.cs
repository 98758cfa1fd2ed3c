using System.CommandLine;
using SelfSpec.Gguf;
using SelfSpec.Model;
using SelfSpec.Quantization;

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
        if (file.PartPaths.Count > 1)
            o.WriteLine($"split model: {file.PartPaths.Count} files: {string.Join(", ", file.PartPaths.Select(System.IO.Path.GetFileName))}");
        o.WriteLine($"architecture: {(file.Metadata.TryGetValue("general.architecture", out object? arch) ? arch : "(none)")}");
        o.WriteLine($"metadata: {file.Metadata.Count} entries");
        foreach (string key in file.MetadataKeys)
            o.WriteLine($"  {key} = {Describe(file.Metadata[key])}");
        o.WriteLine($"tensors: {file.Tensors.Count}");
        o.WriteLine("tensor types:");
        foreach (var group in file.Tensors.GroupBy(t => t.Type).OrderBy(g => g.Key))
        {
            string support = TensorTypeSupport.IsSupported(group.Key) ? "" : "  (not supported)";
            o.WriteLine($"  {TensorTypeSupport.Name(group.Key),-8} {group.Count(),5} tensors, {group.Sum(t => t.ByteSize),15:N0} bytes{support}");
        }
        foreach (var t in file.Tensors)
            o.WriteLine($"  {t.Name,-32} {TensorTypeSupport.Name(t.Type),-7} [{string.Join(", ", t.Dimensions)}]");
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

        // A tensor in a type the engine does not run refuses the whole file at load; name each one and why.
        var refused = file.Tensors.Where(t => !TensorTypeSupport.IsSupported(t.Type)).ToList();
        foreach (var t in refused.Take(10))
        {
            o.WriteLine($"refused: tensor '{t.Name}' has type {TensorTypeSupport.Name(t.Type)}, which this engine does not run " +
                $"(supported: {string.Join(", ", TensorTypeSupport.Supported.Select(TensorTypeSupport.Name))})");
        }

        if (refused.Count > 10)
            o.WriteLine($"refused: and {refused.Count - 10} more tensors");
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
