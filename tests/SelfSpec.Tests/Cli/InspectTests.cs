// `selfspec inspect`: the architecture, the tensor-type histogram, and for a file the engine refuses, the tensor
// and the reason.
using SelfSpec.Gguf;
using SelfSpec.Quantization;

namespace SelfSpec.Tests.Cli;

public sealed class InspectTests : IDisposable
{
    private readonly string _dir = TinyModels.TempDirectory();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void PrintsArchitectureAndTypeHistogram()
    {
        string path = TinyModels.Write(_dir, GgmlType.Q5_0, seed: 1, architecture: "qwen2");
        var r = CliRunner.Run("inspect", path);
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("architecture: qwen2", r.StdOut);
        Assert.Matches(@"q5_0 +\d+ tensors", r.StdOut);
        Assert.Matches(@"f32 +\d+ tensors", r.StdOut);
        Assert.DoesNotContain("not supported", r.StdOut);
        Assert.DoesNotContain("refused", r.StdOut);
    }

    [Fact]
    public void NamesTheRefusedTensorAndWhy()
    {
        var w = new GgufWriter();
        w.Add("general.architecture", "llama");
        w.AddTensor("blk.0.attn_q.weight", GgmlType.IQ2_XXS, [256, 2], new byte[2 * 66]);
        w.AddTensor("output_norm.weight", GgmlType.F32, [4], new byte[16]);
        string path = Path.Combine(_dir, "iq2.gguf");
        w.WriteTo(path);

        var r = CliRunner.Run("inspect", path);
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("architecture: llama", r.StdOut);
        Assert.Matches(@"iq2_xxs +1 tensors, +\S+ bytes  \(not supported\)", r.StdOut);
        Assert.Contains("refused: tensor 'blk.0.attn_q.weight' has type iq2_xxs, which this engine does not run (supported: f32, f16, q4_0", r.StdOut);
        Assert.DoesNotContain("output_norm.weight' has type", r.StdOut);
    }
}
