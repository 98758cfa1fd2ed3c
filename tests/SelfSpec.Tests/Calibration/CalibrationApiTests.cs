using SelfSpec.Calibration;
using SelfSpec.Decoding;
using SelfSpec.Quantization;

namespace SelfSpec.Tests.Calibration;

/// <summary>
/// The public calibration and probe entry points refuse bad input before doing any work, and the search's replay
/// counts a round's calls as the decoder makes them (RoundRows.AdvanceTo's staircase, the PriceBound's gate).
/// </summary>
public sealed class CalibrationApiTests : IDisposable
{
    private readonly string _dir = TinyModels.TempDirectory();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void CalibrateRefusesBadOptionsBeforeWorking()
    {
        string model = TinyModels.Write(_dir, GgmlType.Q8_0, seed: 5, new TinyModels.Shape(Layers: 4));
        using var lm = LanguageModel.Load(model, new ModelLoadOptions { Threads = 1, Calibration = CalibrationChoice.None });
        var steps = new List<CalibrationProgress>();
        var progress = new Recorder(steps);
        var layer = Assert.Throws<InvalidRequestException>(() => lm.Calibrate(new CalibrationOptions { Layers = [2, 4] }, progress));
        Assert.Contains("4", layer.Message);
        Assert.Throws<InvalidRequestException>(() => lm.Calibrate(new CalibrationOptions { Positions = 10 }, progress));
        Assert.Throws<InvalidRequestException>(() => lm.Calibrate(new CalibrationOptions { DistillSeconds = double.NaN }, progress));
        var missing = Assert.Throws<InvalidRequestException>(() => lm.Calibrate(new CalibrationOptions { PromptsPath = Path.Combine(_dir, "none.jsonl") }, progress));
        Assert.Contains("does not exist", missing.Message);
        Assert.Empty(steps);
        Assert.False(File.Exists(lm.DefaultSidecarPath));
    }

    [Fact]
    public void ForwardProbeTimesEveryBatchSizeAndLeavesTheModelAlone()
    {
        string model = TinyModels.Write(_dir, GgmlType.Q8_0, seed: 6, new TinyModels.Shape(Layers: 2));
        using var lm = LanguageModel.Load(model, new ModelLoadOptions { Threads = 2, Calibration = CalibrationChoice.None });
        int[] prompt = [5, 9, 11, 40, 7];
        var options = new GenerationOptions { Method = DecodingMethod.Autoregressive, MaxTokens = 8 };
        var before = lm.Generate(prompt, options).OutputTokens;
        Assert.Throws<InvalidRequestException>(() => new ForwardProbe(lm, [], 4));
        Assert.Throws<InvalidRequestException>(() => new ForwardProbe(lm, prompt, 0));
        Assert.Throws<InvalidRequestException>(() => new ForwardProbe(lm, prompt, LanguageModel.MaxBatch + 1));
        Assert.Throws<InvalidRequestException>(() => new ForwardProbe(lm, [lm.Config.VocabSize], 4));
        using (var probe = new ForwardProbe(lm, prompt, 4))
        {
            Assert.Equal(prompt.Length, probe.PrefixLength);
            Assert.Equal(2, probe.Threads);
            for (int n = 1; n <= 4; n++) Assert.True(probe.Measure(n) > 0);
            Assert.Throws<ArgumentOutOfRangeException>(() => probe.Measure(5));
            Assert.Throws<ArgumentOutOfRangeException>(() => probe.Measure(0));
        }
        Assert.Equal(before, lm.Generate(prompt, options).OutputTokens);
    }

    /// <summary>One exit layer whose drafts always fire and are always right: every round drafts w_max rows.</summary>
    private static ExitTable AlwaysRight(int rows, int layer, int vocab)
    {
        var argmax = Enumerable.Range(0, rows).Select(i => i % 7).ToArray();
        return new ExitTable
        {
            Rows = Enumerable.Range(0, rows).ToArray(),
            Layers = [layer],
            VocabSizes = [vocab],
            Alphas = [0f],
            Draft = [[argmax]],
            Confidence = [[[Enumerable.Repeat(1f, rows).ToArray()]]],
        };
    }

    private static CalibrationCosts Costs(int layers, double exitHead, int vocab)
    {
        var table = new DecodeCosts(8);
        table.ObserveForward(1, 2, 2e-4);   // 1e-4 a layer for one row
        table.ObserveForward(3, 1, 1.8e-4); // three rows: ratio moves from its prior toward 1.8
        table.ObserveHead(1, 1e-3);
        table.ObserveHead(3, 1.6e-3);
        return new CalibrationCosts
        {
            Layers = layers,
            LayerByRows = [.. Enumerable.Range(1, 3).Select(table.Layer)],
            HeadByRows = [.. Enumerable.Range(1, 3).Select(table.Head)],
            ExitHead = new Dictionary<int, double> { [vocab] = exitHead },
            Table = table,
        };
    }

    [Fact]
    public void TheReplayCountsARoundAsTheDecoderRunsIt()
    {
        const int layers = 10, exit = 3, vocab = 16, length = 30;
        var table = AlwaysRight(length, exit, vocab);
        int[] argmax = table.Draft[0][0];
        var costs = Costs(layers, 5e-5, vocab);
        var cfg = new SearchConfig(0, [0], 0, 0.5f, MaxDrafts: 2);
        var outcome = ParameterSearch.Simulate(table, [(0, length)], argmax, cfg, costs, layers);
        // A round of two drafts, as RoundRows runs it: row 0 alone to the exit and a check; row 1 alone to the exit
        // (row 0 waits there) and a check; verification takes row 2 alone to the exit, then all three rows to the
        // last layer together, then the head over three rows. Three tokens a round, ten rounds.
        var t = costs.Table;
        double round = 3 * exit * t.Layer(1) + 2 * 5e-5 + (layers - exit) * t.Layer(3) + t.Head(3);
        Assert.Equal(3.0, outcome.TokensPerRound, 6);
        Assert.Equal(2.0, outcome.DraftsPerRound, 6);
        Assert.Equal(3 * costs.PlainToken / round, outcome.Speedup, 9);
        Assert.Equal((1.0, 1.0), outcome.Rates[exit]);
    }

    [Fact]
    public void GatedReplayDraftsNothingWhenTheBoundSaysChecksDoNotPay()
    {
        const int layers = 10, exit = 3, vocab = 16, length = 40; // fewer rounds than the bound's exploration interval
        var table = AlwaysRight(length, exit, vocab);
        int[] argmax = table.Draft[0][0];
        var cfg = new SearchConfig(0, [0], 0, 0.5f, MaxDrafts: 2);
        // An exit check dearer than a whole plain token: the bound declines every check, as the decoder would.
        var dear = Costs(layers, 1.0, vocab);
        var priors = new ExitPriors(new Dictionary<int, (double, double)> { [exit] = (0.9, 0.9) }, 1.0 / dear.LayerByRows[0]);
        var gated = ParameterSearch.Simulate(table, [(0, length)], argmax, cfg, dear, layers, priors);
        Assert.Equal(0.0, gated.DraftsPerRound);
        Assert.Equal(1.0, gated.Speedup, 9);
        // Cheap checks with the same priors: the bound lets them through and the replay drafts.
        var cheap = Costs(layers, 1e-6, vocab);
        var open = ParameterSearch.Simulate(table, [(0, length)], argmax, cfg, cheap, layers,
            new ExitPriors(new Dictionary<int, (double, double)> { [exit] = (0.9, 0.9) }, 1e-6 / cheap.LayerByRows[0]));
        Assert.True(open.DraftsPerRound > 1.5, $"drafts per round {open.DraftsPerRound}");
        Assert.True(open.Speedup > 1.2, $"speed-up {open.Speedup}");
    }

    private sealed class Recorder(List<CalibrationProgress> steps) : IProgress<CalibrationProgress>
    {
        public void Report(CalibrationProgress value) => steps.Add(value);
    }
}
