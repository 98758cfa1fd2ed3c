using SelfSpec.Calibration;
using SelfSpec.Decoding;
using SelfSpec.Quantization;

namespace SelfSpec.Tests.Calibration;

/// <summary>The whole calibration on a tiny model: collect, fit, search, confirm, write, reload, decode exactly.</summary>
public sealed class CalibratorPipelineTests : IDisposable
{
    private readonly string _dir = TinyModels.TempDirectory();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void CalibrationRunsEndToEndAndItsSidecarKeepsGreedyOutputExact()
    {
        var shape = new TinyModels.Shape(Layers: 4, Embedding: 256, FeedForward: 256, Heads: 2, KvHeads: 1, Tied: true);
        string model = TinyModels.Write(_dir, GgmlType.Q8_0, seed: 31, shape);
        var rng = new Random(2);
        var prompts = Enumerable.Range(0, 30).Select(i => ("raw", Enumerable.Range(0, 6 + i % 5).Select(_ => rng.Next(0, 260)).ToArray())).ToList();
        var options = new CalibrationOptions
        {
            Positions = 1200, MaxNewTokens = 48, Layers = [1, 2, 3], TrainVocab = 128, VocabSizes = [64, 128], SearchVocabSizes = [64, 128],
            RidgeLambdas = [1e-3, 1e-1], Alphas = [0f, 1f], Taus = [0.2f, 0.5f], MaxDrafts = [2, 3], MaxExitLayers = 2,
            DistillSeconds = 1.5, DistillSteps = 40, ConfirmCandidates = 2, ConfirmPrompts = 1, ConfirmTokens = 16, Threads = 2,
        };
        CalibrationReport report;
        var stages = new List<string>();
        using (var lm = LanguageModel.Load(model, new ModelLoadOptions { Threads = 2, Calibration = CalibrationChoice.None }))
        {
            report = new Calibrator(lm, options, (what, _) => stages.Add(what.Split(':')[0])).Run(prompts);
            Sidecar.Write(Sidecar.PathFor(model), report.Sidecar);
        }
        Assert.Equal(new[] { 1, 2, 3 }, report.Layers.Select(l => l.Layer));
        Assert.True(report.Positions >= 1000 && report.TestPositions > 0 && report.ValidationPositions > 0,
            $"{report.Positions} positions from {report.Prompts} prompts, {report.ValidationPositions} validation, {report.TestPositions} test");
        foreach (var l in report.Layers)
        {
            Assert.InRange(l.Before, 0, 1);
            Assert.InRange(l.Distilled, 0, 1);
            Assert.True(l.KlDistilled <= l.KlRidge, $"distillation keeps the best held-out KL: {l.KlRidge} -> {l.KlDistilled}");
        }
        Assert.Equal(2, report.Vocab.Count);
        Assert.Contains(report.Chosen, report.Confirmed);
        Assert.Contains("collecting", stages);
        Assert.Contains("distilling", stages);

        using var calibrated = LanguageModel.Load(model, threads: 2);
        Assert.Null(calibrated.SidecarWarning);
        Assert.Equal(report.Chosen.Spec.ExitLayers, calibrated.SpeculationDefaults.ExitLayers);
        foreach (var (_, prompt) in prompts.Take(3))
        {
            var expected = calibrated.Generate(prompt, new GenerationOptions { Method = DecodingMethod.Autoregressive, MaxTokens = 32 });
            foreach (var method in new[] { DecodingMethod.SpecBound, DecodingMethod.Hybrid })
            {
                var forced = calibrated.SpeculationDefaults with { PriceBound = false, Tau = 0.05f };
                Assert.Equal(expected.OutputTokens, calibrated.Generate(prompt, new GenerationOptions { MaxTokens = 32, Method = method }).OutputTokens);
                Assert.Equal(expected.OutputTokens, calibrated.Generate(prompt, new GenerationOptions { MaxTokens = 32, Method = method, Speculation = forced }).OutputTokens);
            }
        }
    }
}
