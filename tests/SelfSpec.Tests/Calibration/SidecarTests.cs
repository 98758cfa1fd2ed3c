using SelfSpec.Calibration;
using SelfSpec.Decoding;
using SelfSpec.Quantization;
using SelfSpec.Sampling;
using Xunit.Abstractions;

namespace SelfSpec.Tests.Calibration;

/// <summary>The calibration sidecar: round trip, refusal of other models' and corrupt files, exact output with any sidecar.</summary>
public sealed class SidecarTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TinyModels.Shape Shape = new(Layers: 4, Embedding: 256, FeedForward: 256, Heads: 2, KvHeads: 1, Tied: true);
    private readonly string _dir = TinyModels.TempDirectory();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>A sidecar with random translators at layers 1 and 2 and a draft vocabulary of every other token.</summary>
    private static SidecarContents Random(LanguageModel lm, int seed, float tau = 0.05f, int draftStride = 2)
    {
        var rng = new Random(seed);
        var c = lm.Config;
        int d = c.EmbeddingDim;
        Translator Make(int layer)
        {
            var a = new float[d * d];
            for (int i = 0; i < a.Length; i++) a[i] = (float)(rng.NextDouble() - 0.5) * 0.1f;
            for (int i = 0; i < d; i++) a[i * d + i] += 1f;
            return new Translator(layer, d, a, Enumerable.Range(0, d).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray());
        }
        return new SidecarContents
        {
            ModelFingerprint = Sidecar.Fingerprint(lm.Path),
            ModelSize = lm.FileSize,
            Layers = c.LayerCount,
            Embedding = d,
            Vocab = c.VocabSize,
            Speculation = SpeculationOptions.Default with { Alpha = 0.5f, Tau = tau, MaxExitDrafts = 5, MaxDepth = 3, ExitLayers = [1, 2] },
            Translators = [Make(1), Make(2)],
            DraftTokens = Enumerable.Range(0, c.VocabSize).Where(t => t % draftStride == 0).Reverse().ToArray(),
            Rates = new Dictionary<int, (double, double)> { [1] = (0.6, 0.5), [2] = (0.7, 0.4) },
            HeadCostInLayers = 0.5,
            Summary = "{\"test\":true}",
        };
    }

    /// <summary>The datastore tensor: round trip, the model's datastore filled from it, a sidecar without it still loads, and its bytes are checksummed.</summary>
    [Fact]
    public void TheDatastoreRoundTripsIsOptionalAndChecksummed()
    {
        string model = TinyModels.Write(_dir, GgmlType.Q8_0, seed: 3, Shape);
        SidecarContents without;
        using (var lm = LanguageModel.Load(model, new ModelLoadOptions { Threads = 1, Calibration = CalibrationChoice.None }))
            without = Random(lm, 1);
        int[] generations = TokenStore.Join([[5, 6, 7, 8], [9, 10, 11]]);
        string path = Sidecar.PathFor(model);
        Sidecar.Write(path, without with { Datastore = generations });
        using (var loaded = LanguageModel.Load(model, new ModelLoadOptions { Threads = 1, RememberedAnswers = 0 }))
        {
            Assert.Null(loaded.SidecarWarning);
            Assert.Equal(generations, Assert.Single(loaded.Datastore.Snapshot).Tokens.ToArray());
        }

        Sidecar.Write(path, without);
        using (var loaded = LanguageModel.Load(model, new ModelLoadOptions { Threads = 1, RememberedAnswers = 0 }))
        {
            Assert.Null(loaded.SidecarWarning);
            Assert.Equal(path, loaded.SidecarPath);
            Assert.Empty(loaded.Datastore.Snapshot);
        }

        // One token of the datastore changed: the checksum no longer matches, the sidecar is refused.
        Sidecar.Write(path, without with { Datastore = generations });
        byte[] bytes = File.ReadAllBytes(path);
        byte[] tail = BitConverter.GetBytes(11);
        int at = bytes.AsSpan().LastIndexOf(tail);
        Assert.True(at > 0);
        bytes[at] = 12;
        File.WriteAllBytes(path, bytes);
        using var refused = LanguageModel.Load(model, new ModelLoadOptions { Threads = 1, RememberedAnswers = 0 });
        Assert.Null(refused.SidecarPath);
        Assert.Contains("checksum", refused.SidecarWarning);
        Assert.Empty(refused.Datastore.Snapshot);
    }

    [Fact]
    public void SidecarRoundTripsAndLoadsAutomatically()
    {
        string model = TinyModels.Write(_dir, GgmlType.Q8_0, seed: 3, Shape);
        SidecarContents written;
        using (var lm = LanguageModel.Load(model, new ModelLoadOptions { Threads = 1, Calibration = CalibrationChoice.None }))
        {
            written = Random(lm, 1);
            Sidecar.Write(Sidecar.PathFor(model), written);
        }
        using var loaded = LanguageModel.Load(model, threads: 1);
        Assert.Null(loaded.SidecarWarning);
        Assert.Equal(Sidecar.PathFor(model), loaded.SidecarPath);
        Assert.Equal(written.Speculation, loaded.SpeculationDefaults with { ExitLayers = written.Speculation.ExitLayers });
        Assert.Equal(written.Speculation.ExitLayers, loaded.SpeculationDefaults.ExitLayers);
        Assert.NotNull(loaded.ExitHead);
        Assert.Equal(written.DraftTokens.Length, loaded.ExitHead!.DraftVocabSize);

        using var file = SelfSpec.Gguf.GgufFile.Open(model);
        var read = Sidecar.Read(Sidecar.PathFor(model), file, loaded.Config);
        Assert.Equal(written.DraftTokens, read.DraftTokens);
        Assert.Equal(written.Translators.Select(t => t.Layer), read.Translators.Select(t => t.Layer));
        for (int i = 0; i < 2; i++)
        {
            Assert.Equal(written.Translators[i].A, read.Translators[i].A);
            Assert.Equal(written.Translators[i].B, read.Translators[i].B);
        }
        Assert.Equal(0.6, read.Rates[1].Accept, 6);
        Assert.Equal(0.4, read.Rates[2].Fire, 6);
        Assert.Equal(written.HeadCostInLayers, read.HeadCostInLayers, 6);
        Assert.Equal(written.Summary, read.Summary);

        // The calibrated head maps draft entries back to vocabulary ids, and expands to -inf outside the draft vocabulary.
        Assert.Equal(written.DraftTokens[3], loaded.ExitHead.Token(3));
        var full = new float[loaded.Config.VocabSize];
        var draft = Enumerable.Range(0, loaded.ExitHead.DraftVocabSize).Select(i => (float)i).ToArray();
        loaded.ExitHead.Expand(draft, full);
        Assert.Equal(3f, full[written.DraftTokens[3]]);
        Assert.Equal(float.NegativeInfinity, full[1]);

        // "none" loads nothing even though the sidecar exists.
        using var plain = LanguageModel.Load(model, new ModelLoadOptions { Threads = 1, Calibration = CalibrationChoice.None });
        Assert.Null(plain.SidecarPath);
        Assert.Same(SpeculationOptions.Default, plain.SpeculationDefaults);
    }

    [Fact]
    public void SidecarOfAnotherModelIsRefusedWithAClearMessage()
    {
        string model = TinyModels.Write(_dir, GgmlType.Q8_0, seed: 3, Shape);
        string other = TinyModels.Write(Path.Combine(_dir, "other"), GgmlType.Q8_0, seed: 4, Shape);
        using (var lm = LanguageModel.Load(other, new ModelLoadOptions { Threads = 1, Calibration = CalibrationChoice.None }))
            Sidecar.Write(Sidecar.PathFor(model), Random(lm, 1));
        using var loaded = LanguageModel.Load(model, threads: 1);
        Assert.Null(loaded.SidecarPath);
        Assert.Null(loaded.ExitHead);
        Assert.Same(SpeculationOptions.Default, loaded.SpeculationDefaults);
        Assert.Contains("belongs to another model", loaded.SidecarWarning);
    }

    [Theory]
    [InlineData("truncate")]
    [InlineData("flip-tensor")]
    [InlineData("flip-metadata")]
    [InlineData("garbage")]
    public void CorruptSidecarIsRefused(string damage)
    {
        string model = TinyModels.Write(_dir, GgmlType.Q8_0, seed: 3, Shape);
        string path = Sidecar.PathFor(model);
        using (var lm = LanguageModel.Load(model, new ModelLoadOptions { Threads = 1, Calibration = CalibrationChoice.None }))
            Sidecar.Write(path, Random(lm, 1));
        byte[] bytes = File.ReadAllBytes(path);
        switch (damage)
        {
            case "truncate": bytes = bytes[..(bytes.Length / 2)]; break;
            case "flip-tensor": bytes[^100] ^= 0x40; break;
            case "flip-metadata":
                int at = System.Text.Encoding.UTF8.GetBytes(System.Text.Encoding.Latin1.GetString(bytes)).Length > 0
                    ? System.Text.Encoding.Latin1.GetString(bytes).IndexOf("{\"test\":true}", StringComparison.Ordinal) : -1;
                Assert.True(at > 0);
                bytes[at + 3] ^= 0x01;
                break;
            default: bytes = new byte[4096]; new Random(1).NextBytes(bytes); break;
        }
        File.WriteAllBytes(path, bytes);
        using var loaded = LanguageModel.Load(model, threads: 1);
        Assert.Null(loaded.SidecarPath);
        Assert.Null(loaded.ExitHead);
        Assert.NotNull(loaded.SidecarWarning);
        Assert.Contains("using default speculation settings", loaded.SidecarWarning);
        // Still decodes, with the defaults.
        var r = loaded.Generate([1, 2, 3], new GenerationOptions { MaxTokens = 5, Method = DecodingMethod.Hybrid });
        Assert.NotEmpty(r.OutputTokens);
    }

    [Fact]
    public void GreedyOutputWithASidecarEqualsAutoregressive()
    {
        string model = TinyModels.Write(_dir, GgmlType.Q4_1, seed: 8, Shape);
        using (var lm = LanguageModel.Load(model, new ModelLoadOptions { Threads = 1, Calibration = CalibrationChoice.None }))
            Sidecar.Write(Sidecar.PathFor(model), Random(lm, 2, tau: 0.01f));
        using var loaded = LanguageModel.Load(model, threads: 2);
        Assert.NotNull(loaded.ExitHead);
        var rng = new Random(5);
        int[] random = Enumerable.Range(0, 12).Select(_ => rng.Next(0, 256)).ToArray();
        int[] pattern = [.. random[..5], .. random[..5], .. random[..5]];
        int drafted = 0;
        foreach (int[] prompt in new[] { random, pattern })
        {
            var expected = loaded.Generate(prompt, new GenerationOptions { Method = DecodingMethod.Autoregressive, MaxTokens = 40, StopAtEndOfGeneration = false });
            foreach (var method in new[] { DecodingMethod.SpecBound, DecodingMethod.Hybrid, DecodingMethod.Static })
                foreach (var spec in new SpeculationOptions?[] { null, loaded.SpeculationDefaults with { PriceBound = false, StaticExitLayer = 2 } })
                {
                    var actual = loaded.Generate(prompt, new GenerationOptions { MaxTokens = 40, Method = method, Speculation = spec, StopAtEndOfGeneration = false });
                    Assert.Equal(expected.OutputTokens, actual.OutputTokens);
                    drafted += actual.Stats.ExitLayerHistogram.Values.Sum();
                }
        }
        Assert.True(drafted > 20, $"the calibrated exits must draft (drafted {drafted})");
    }

    [Fact]
    public void SamplingWithADraftVocabularyStaysLossless()
    {
        // The draft distribution q is zero outside the draft vocabulary; speculative sampling must still reproduce p.
        // Check: the first two tokens, sampled many times with the calibrated exits forced to draft (the second token
        // is the first draft, accepted or resampled), follow the model's joint distribution computed exactly by
        // enumeration (as LosslessSamplingTests); a rule that resamples rejections from p instead of
        // norm(max(0, p - q)) must fail the same test. Embeddings at a tenth of the unit scale, temperature 1.3 and
        // top-k 4: a p far from uniform (at unit scale this tied model is nearly one-hot).
        string model = TinyModels.Write(_dir, GgmlType.Q8_0, seed: 12, Shape with { EmbeddingScale = 0.1f });
        using (var lm = LanguageModel.Load(model, new ModelLoadOptions { Threads = 1, Calibration = CalibrationChoice.None }))
            Sidecar.Write(Sidecar.PathFor(model), Random(lm, 3, tau: 0f, draftStride: 3)); // a third of the vocabulary drafts
        using var loaded = LanguageModel.Load(model, threads: 1);
        int[] prompt = [5, 6, 7, 8];
        var sampling = new SamplingOptions { Temperature = 1.3f, TopK = 4 };
        var exact = ExactFirstTwo(model, prompt, sampling);
        const int runs = 2000;
        (double Statistic, double Critical, int Drafted, int Accepted) Run(AcceptanceRule rule)
        {
            var counts = new Dictionary<(int, int), int>();
            int drafted = 0, accepted = 0;
            for (int i = 0; i < runs; i++)
            {
                var r = loaded.Generate(prompt, new GenerationOptions
                {
                    MaxTokens = 3, Method = DecodingMethod.SpecBound, Sampling = sampling with { Seed = (ulong)(1000 + i) }, StopAtEndOfGeneration = false,
                    Speculation = loaded.SpeculationDefaults with { PriceBound = false, Tau = 0f, Acceptance = rule },
                });
                drafted += r.Stats.Drafted;
                accepted += r.Stats.Accepted;
                var key = (r.OutputTokens[0], r.OutputTokens[1]);
                counts[key] = counts.GetValueOrDefault(key) + 1;
            }
            var (statistic, critical) = Tests.Sampling.GoodnessOfFit.ChiSquare(exact, counts, runs);
            return (statistic, critical, drafted, accepted);
        }
        var right = Run(AcceptanceRule.Speculative);
        var wrong = Run(AcceptanceRule.ResampleFromP);
        output.WriteLine($"{exact.Count} outcomes; speculative: chi-square {right.Statistic:F1}, critical {right.Critical:F1}, drafted {right.Drafted}, accepted {right.Accepted}; " +
            $"resampling from p: chi-square {wrong.Statistic:F1}");
        Assert.True(right.Drafted > 0 && right.Drafted > right.Accepted && right.Accepted > 0,
            $"drafted {right.Drafted}, accepted {right.Accepted}: drafts must be both accepted and rejected");
        Assert.True(right.Statistic < right.Critical, $"chi-square {right.Statistic:F1} >= critical {right.Critical:F1} over {exact.Count} outcomes");
        Assert.True(double.IsFinite(wrong.Statistic) && wrong.Statistic > right.Critical,
            $"resampling from p passed: chi-square {wrong.Statistic:F1}, critical {wrong.Critical:F1}");
    }

    /// <summary>P(t1, t2) after <paramref name="prompt"/>: the full model's logits through the sampler's exact distribution.</summary>
    private static Dictionary<(int, int), double> ExactFirstTwo(string model, int[] prompt, SamplingOptions sampling)
    {
        using var h = new Tests.Model.ModelHarness(model, threads: 1);
        var sampler = new Sampler(sampling, h.Config.VocabSize);
        IEnumerable<(int Token, double P)> Support(int[] tokens)
        {
            var probs = new float[h.Config.VocabSize];
            sampler.Distribution(Tests.Decoding.DecodingHarness.LastLogits(h, tokens), tokens, probs);
            return probs.Select((p, t) => (t, (double)p)).Where(x => x.Item2 > 0).ToList();
        }
        var result = new Dictionary<(int, int), double>();
        foreach (var (t1, p1) in Support(prompt))
            foreach (var (t2, p2) in Support([.. prompt, t1]))
                result[(t1, t2)] = p1 * p2;
        return result;
    }
}
