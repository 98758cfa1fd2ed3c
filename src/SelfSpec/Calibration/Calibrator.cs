using System.Diagnostics;
using SelfSpec.Decoding;
using SelfSpec.Model;
using SelfSpec.Quantization;

namespace SelfSpec.Calibration;

internal sealed record CalibrationOptions
{
    public int Positions { get; init; } = 30_000;
    public int MaxNewTokens { get; init; } = 160;
    /// <summary>Candidate exit layers whose states are recorded and fitted; null = <see cref="LayerFractions"/> of the model's depth.</summary>
    public int[]? Layers { get; init; }
    /// <summary>
    /// Default candidate exits as fractions of depth: from 2/15 to 2/3 (layers 4, 6, 8, 10, 12, 16, 20 of a 30-layer
    /// model), denser where shallow exits are cheap, none in the last third where an exit saves too little.
    /// </summary>
    public double[] LayerFractions { get; init; } = [2.0 / 15, 1.0 / 5, 4.0 / 15, 1.0 / 3, 2.0 / 5, 8.0 / 15, 2.0 / 3];

    /// <summary>The candidate exit layers for a model of <paramref name="layerCount"/> layers, ascending, each in 1..layerCount-1.</summary>
    public int[] ResolveLayers(int layerCount) =>
        (Layers ?? [.. LayerFractions.Select(f => (int)Math.Round(f * layerCount))]).Where(l => l >= 1 && l < layerCount).Distinct().Order().ToArray();
    /// <summary>Draft vocabulary the translators are distilled on.</summary>
    public int TrainVocab { get; init; } = 4096;
    /// <summary>Draft vocabulary sizes reported.</summary>
    public int[] VocabSizes { get; init; } = [1024, 2048, 4096, 8192];
    /// <summary>Draft vocabulary sizes searched (each costs the search a pass of exponentials over held-out rows).</summary>
    public int[] SearchVocabSizes { get; init; } = [1024, 2048, 4096];
    public double[] RidgeLambdas { get; init; } = [1e-4, 1e-3, 1e-2, 1e-1];
    public float[] Alphas { get; init; } = [0f, 0.5f, 1f, 2f, 4f];
    public float[] Taus { get; init; } = [0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f, 0.8f, 0.9f];
    public int[] MaxDrafts { get; init; } = [2, 3, 4, 6];
    public int MaxExitLayers { get; init; } = 3;
    /// <summary>Distillation's wall-clock budget for all layers together.</summary>
    public double DistillSeconds { get; init; } = 150;
    public int DistillSteps { get; init; } = 400;
    public int ConfirmCandidates { get; init; } = 3;
    public int ConfirmPrompts { get; init; } = 4;
    public int ConfirmTokens { get; init; } = 128;
    public int Threads { get; init; } = 1;
}

internal sealed record LayerReport(int Layer, double Before, double Ridge, double Distilled, double Lambda, double KlRidge, double KlDistilled, int Steps, double Seconds);

internal sealed record VocabReport(int Size, double Coverage, double Agreement, double HeadMilliseconds, double CostSaved);

internal sealed record ConfirmReport(string Label, SpeculationOptions Spec, int Vocab, double EstimatedSpeedup, double ArTokensPerSecond,
    double SpecBoundTokensPerSecond, double HybridTokensPerSecond)
{
    public double Score => Math.Sqrt(SpecBoundTokensPerSecond / ArTokensPerSecond * (HybridTokensPerSecond / ArTokensPerSecond));
}

internal sealed class CalibrationReport
{
    public required int Positions { get; init; }
    public required int TrainPositions { get; init; }
    public required int ValidationPositions { get; init; }
    public required int TestPositions { get; init; }
    public required int Prompts { get; init; }
    public required long DataBytes { get; init; }
    public required List<LayerReport> Layers { get; init; }
    public required List<VocabReport> Vocab { get; init; }
    public required CostModel Costs { get; init; }
    public required List<SearchOutcome> TopSimulated { get; init; }
    public required List<ConfirmReport> Confirmed { get; init; }
    public required ConfirmReport Chosen { get; init; }
    public required Dictionary<string, double> StageSeconds { get; init; }
    public required SidecarContents Sidecar { get; init; }
}

/// <summary>
/// <c>selfspec calibrate</c> (architecture.md 6): collect, fit translators (ridge, then distillation), pick the draft vocabulary,
/// search the speculation parameters, confirm by real decoding. Prompts are split train / validation / test: fits
/// and choices use train and validation, every reported agreement comes from the test prompts.
/// </summary>
internal sealed class Calibrator(LanguageModel lm, CalibrationOptions o, Action<string, double>? progress = null)
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly Dictionary<string, double> _stages = [];
    private double _stageStart;
    private int[] _generations = []; // the training prompts' greedy outputs: the sidecar's datastore

    private void Stage(string name)
    {
        double now = _clock.Elapsed.TotalSeconds;
        _stages[name] = now - _stageStart;
        _stageStart = now;
    }

    private void Report(string what, double fraction) => progress?.Invoke(what, Math.Clamp(fraction, 0, 1));

    public CalibrationReport Run(IReadOnlyList<(string Task, int[] Tokens)> prompts, CancellationToken cancellation = default)
    {
        var c = lm.Config;
        int[] layers = o.ResolveLayers(c.LayerCount);
        if (layers.Length == 0) throw new InvalidRequestException($"no candidate exit layer within 1..{c.LayerCount - 1}");
        int maxVocab = Math.Min(c.VocabSize, o.VocabSizes.Max());
        int[] vocabSizes = o.VocabSizes.Select(v => Math.Min(v, c.VocabSize)).Distinct().Order().ToArray();
        int trainVocab = Math.Min(o.TrainVocab, maxVocab);
        lm.UseCalibration(null);

        // 1. Data.
        var data = Collector.Collect(lm, prompts, layers, new CollectionOptions { Positions = o.Positions, MaxNewTokens = o.MaxNewTokens },
            (s, f) => Report($"collecting: {s}", 0.45 * f), cancellation);
        cancellation.ThrowIfCancellationRequested();
        Stage("collect");
        _stages["collect.generate"] = data.GenerateSeconds;
        _stages["collect.record"] = data.RecordSeconds;
        // Held-out prompts' outputs stay out, so confirmation on them is not drafted from their own answers.
        _generations = Decoding.TokenStore.Join(data.Prompts.Where(p => !p.HeldOut).Select(p => p.Output));
        var (train, validation, test) = Split(data);
        if (train.Length == 0 || validation.Length == 0 || test.Length == 0)
            throw new InvalidRequestException($"too little data: {data.Count} positions from {data.Prompts.Count} prompts (need train, validation and test prompts; give more prompts or positions)");

        // 2. Draft vocabulary and its float head.
        var head = BuildHead(data, train, maxVocab);
        var trainHead = head.Prefix(trainVocab);
        int[] valSample = Sample(validation, 2048, 3);

        // 3. Translators: ridge (lambda on validation agreement), then distillation (early-stopped on validation KL).
        var ridge = new Translator[layers.Length];
        var lambdas = new double[layers.Length];
        for (int li = 0; li < layers.Length; li++)
        {
            Report($"ridge: layer {layers[li]}", 0.45 + 0.1 * li / layers.Length);
            var stats = Ridge.Accumulate(data.Hidden[li], data.Target, train, o.Threads);
            double best = -1;
            foreach (double rel in o.RidgeLambdas)
            {
                var t = Ridge.Solve(stats, rel * stats.MeanVariance, layers[li]);
                double agree = ExitEvaluation.Agreement(data, li, t, trainHead, valSample, trainHead.Size, o.Threads);
                if (agree > best) { best = agree; ridge[li] = t; lambdas[li] = rel; }
            }
            cancellation.ThrowIfCancellationRequested();
        }
        Stage("ridge");
        var distilled = new Translator[layers.Length];
        var distillResults = new DistillationResult[layers.Length];
        for (int li = 0; li < layers.Length; li++)
        {
            Report($"distilling: layer {layers[li]}", 0.55 + 0.25 * li / layers.Length);
            var r = Distillation.Run(ridge[li], data.Hidden[li], data.Teacher, trainHead, train, valSample, new DistillationOptions
            {
                Seconds = o.DistillSeconds / layers.Length,
                MaxSteps = o.DistillSteps,
                Threads = o.Threads,
                Seed = layers[li],
            }, cancellation);
            distilled[li] = r.Best;
            distillResults[li] = r;
        }
        Stage("distill");

        // 4. Held-out figures (test prompts) and the tables the search reads (validation prompts).
        Report("evaluating on held-out positions", 0.8);
        var before = new double[layers.Length];
        var ridgeTest = new double[layers.Length];
        for (int li = 0; li < layers.Length; li++)
        {
            before[li] = ExitEvaluation.Agreement(data, li, null, head, test, maxVocab, o.Threads);
            ridgeTest[li] = ExitEvaluation.Agreement(data, li, ridge[li], head, test, maxVocab, o.Threads);
        }
        var testTable = ExitEvaluation.Build(data, distilled, head, test, vocabSizes, [0f], c.LayerCount, o.Threads);
        int[] searchSizes = o.SearchVocabSizes.Select(v => Math.Min(v, maxVocab)).Where(vocabSizes.Contains).Distinct().Order().ToArray();
        if (searchSizes.Length == 0) searchSizes = [vocabSizes[^1]];
        var valTable = ExitEvaluation.Build(data, distilled, head, validation, searchSizes, o.Alphas, c.LayerCount, o.Threads);
        int top = vocabSizes.Length - 1;
        var layerReports = layers.Select((l, li) => new LayerReport(l, before[li], ridgeTest[li], testTable.Agreement(top, li, data.Teacher.ArgMax),
            lambdas[li], distillResults[li].InitialKl, distillResults[li].BestKl, distillResults[li].Steps, distillResults[li].Seconds)).ToList();
        Stage("evaluate");

        // 5. Costs, simulated search, real decoding.
        Report("timing calls", 0.83);
        var costs = MeasureCosts(prompts[0].Tokens, distilled, head, vocabSizes);
        var fullHead = costs.Head;
        var vocabReports = vocabSizes.Select((n, vi) => new VocabReport(n, Coverage(data, test, head, n),
            Enumerable.Range(0, layers.Length).Average(li => testTable.Agreement(vi, li, data.Teacher.ArgMax)),
            costs.ExitHead[n] * 1e3, 1 - costs.ExitHead[n] / fullHead)).ToList();
        Report("searching parameters (cost model)", 0.85);
        var segments = Segments(data, validation);
        var outcomes = ParameterSearch.Grid(valTable, o.Taus, o.MaxDrafts, o.MaxExitLayers)
            .Select(cfg => ParameterSearch.Simulate(valTable, segments, data.Teacher.ArgMax, cfg, costs, c.LayerCount))
            .OrderByDescending(r => r.Speedup).ToList();
        var shortlist = new List<SearchOutcome>();
        foreach (var r in outcomes)
        {
            if (shortlist.Count >= o.ConfirmCandidates) break;
            // Distinct in layers or vocabulary, so the real runs test different choices.
            if (shortlist.Any(s => s.Config.VocabIndex == r.Config.VocabIndex && s.Config.LayerIndices.SequenceEqual(r.Config.LayerIndices))) continue;
            shortlist.Add(r);
        }
        Stage("search");
        var confirmed = Confirm(data, shortlist, distilled, head, searchSizes, layers, costs, cancellation);
        var chosen = confirmed.MaxBy(r => r.Score)!;
        Stage("confirm");
        var chosenOutcome = shortlist[confirmed.IndexOf(chosen)];
        var sidecar = Contents(chosenOutcome, distilled, head, searchSizes, costs, layers);
        lm.UseCalibration(sidecar);
        Report("done", 1);
        return new CalibrationReport
        {
            Positions = data.Count,
            TrainPositions = train.Length,
            ValidationPositions = validation.Length,
            TestPositions = test.Length,
            Prompts = data.Prompts.Count,
            DataBytes = data.Bytes,
            Layers = layerReports,
            Vocab = vocabReports,
            Costs = costs,
            TopSimulated = outcomes.Take(10).ToList(),
            Confirmed = confirmed,
            Chosen = chosen,
            StageSeconds = _stages,
            Sidecar = sidecar,
        };
    }

    /// <summary>Train: prompts 0-3 of every 5; validation and test: the fifth, alternately. Held-out rows are generated positions only.</summary>
    private static (int[] Train, int[] Validation, int[] Test) Split(CalibrationData data)
    {
        var train = data.Prompts.Where(p => !p.HeldOut).SelectMany(p => Enumerable.Range(p.FirstRow, p.Rows)).ToArray();
        int[] Held(int parity) => data.Prompts.Where(p => p.HeldOut && p.Index / 5 % 2 == parity)
            .SelectMany(p => Enumerable.Range(p.FirstRow, p.Rows)).Where(r => data.Generated[r]).ToArray();
        return (train, Held(0), Held(1));
    }

    private static bool IsTest(RecordedPrompt p) => p.HeldOut && p.Index / 5 % 2 == 1;

    private static int[] Sample(int[] rows, int count, int seed)
    {
        if (rows.Length <= count) return rows;
        var copy = (int[])rows.Clone();
        new Random(seed).Shuffle(copy);
        return copy[..count];
    }

    /// <summary>Contiguous runs of the table's rows that belong to one trajectory.</summary>
    private static List<(int Start, int Length)> Segments(CalibrationData data, int[] rows)
    {
        var result = new List<(int, int)>();
        int start = 0;
        for (int i = 1; i <= rows.Length; i++)
            if (i == rows.Length || rows[i] != rows[i - 1] + 1)
            {
                result.Add((start, i - start));
                start = i;
            }
        return result;
    }

    /// <summary>The N most frequent final tokens of the training positions (then by top-K presence, then id), with their head rows in float.</summary>
    private DraftHead BuildHead(CalibrationData data, int[] train, int size)
    {
        var c = lm.Config;
        var score = new long[c.VocabSize];
        int k = data.Teacher.K;
        foreach (int r in train)
        {
            score[data.Teacher.ArgMax[r]] += 1L << 20;
            for (int j = 0; j < k; j++) score[data.Teacher.Ids[r * k + j]]++;
        }
        int[] tokens = Enumerable.Range(0, c.VocabSize).OrderByDescending(t => score[t]).ThenBy(t => t).Take(size).ToArray();
        var output = lm.Transformer.Weights.Output;
        var weights = new float[tokens.Length * c.EmbeddingDim];
        for (int i = 0; i < tokens.Length; i++)
            Dequantize.Row(output.Type, output.Row(tokens[i]), weights.AsSpan(i * c.EmbeddingDim, c.EmbeddingDim));
        return new DraftHead(tokens, weights, lm.Transformer.Weights.OutputNorm, c.RmsEpsilon, c.VocabSize);
    }

    private static double Coverage(CalibrationData data, int[] rows, DraftHead head, int size)
    {
        int hits = 0;
        foreach (int r in rows)
        {
            int i = head.IndexOf[data.Teacher.ArgMax[r]];
            if (i >= 0 && i < size) hits++;
        }
        return rows.Length > 0 ? (double)hits / rows.Length : 0;
    }

    /// <summary>Times one-row and four-row layer calls, the final head and the draft heads (minimum of repeats: contention only adds time).</summary>
    private CostModel MeasureCosts(int[] prompt, Translator[] translators, DraftHead head, int[] vocabSizes)
    {
        var t = lm.Transformer;
        var c = lm.Config;
        int d = c.EmbeddingDim, prefix = Math.Min(prompt.Length, 48);
        var cache = new KvCache(c, prefix + 8);
        var hidden = new float[t.MaxBatch * d];
        var positions = Enumerable.Range(0, prefix).ToArray();
        t.Embed(prompt.AsSpan(0, prefix), hidden);
        t.Forward(positions, hidden.AsSpan(0, prefix * d), 0, c.LayerCount, cache);
        cache.Commit(prefix);
        var logits = new float[4 * c.VocabSize];
        double Time(Action a, int reps = 7)
        {
            a();
            double best = double.MaxValue;
            for (int i = 0; i < reps; i++)
            {
                long t0 = Stopwatch.GetTimestamp();
                a();
                best = Math.Min(best, Stopwatch.GetElapsedTime(t0).TotalSeconds);
            }
            return best;
        }
        var rows1 = new[] { prefix };
        var rows4 = Enumerable.Range(prefix, 4).ToArray();
        double one = Time(() => t.Forward(rows1, hidden.AsSpan(0, d), 0, c.LayerCount, cache)) / c.LayerCount;
        double four = Time(() => t.Forward(rows4, hidden.AsSpan(0, 4 * d), 0, c.LayerCount, cache)) / c.LayerCount;
        double head1 = Time(() => t.FinalLogits(hidden.AsSpan(0, d), 1, logits));
        double head4 = Time(() => t.FinalLogits(hidden.AsSpan(0, 4 * d), 4, logits));
        var exit = new Dictionary<int, double>();
        foreach (int n in vocabSizes)
        {
            var h = new CalibratedExitHead(t, translators.Select(x => (x.Layer, x.A, x.B)), head.Tokens[..n]);
            var buffer = new float[n];
            exit[n] = Time(() => h.Logits(translators[0].Layer, hidden.AsSpan(0, d), buffer), 15);
        }
        return new CostModel(one, Math.Max(0, (four - one) / 3), head1, Math.Max(0, (head4 - head1) / 3), exit);
    }

    private SidecarContents Contents(SearchOutcome outcome, Translator[] translators, DraftHead head, int[] vocabSizes, CostModel costs, int[] layers)
    {
        var cfg = outcome.Config;
        int n = vocabSizes[cfg.VocabIndex];
        int[] exits = cfg.LayerIndices.Select(i => layers[i]).ToArray();
        var spec = SpeculationOptions.Default with
        {
            Alpha = o.Alphas[cfg.AlphaIndex],
            Tau = cfg.Tau,
            MaxDrafts = cfg.MaxDrafts,
            MaxDepth = exits.Max(),
            ExitLayers = exits,
        };
        var c = lm.Config;
        return new SidecarContents
        {
            ModelFingerprint = Sidecar.Fingerprint(lm.Path),
            ModelSize = lm.FileSize,
            Layers = c.LayerCount,
            Embedding = c.EmbeddingDim,
            Vocab = c.VocabSize,
            Speculation = spec,
            Translators = translators,
            DraftTokens = head.Tokens[..n],
            Rates = outcome.Rates,
            HeadCostInLayers = costs.ExitHead[n] / costs.LayerRead,
            Datastore = _generations,
        };
    }

    /// <summary>Real decoding of the shortlisted settings on test prompts, interleaved with plain decoding, prompt by prompt.</summary>
    private List<ConfirmReport> Confirm(CalibrationData data, List<SearchOutcome> shortlist, Translator[] translators, DraftHead head,
        int[] vocabSizes, int[] layers, CostModel costs, CancellationToken cancellation)
    {
        var prompts = data.Prompts.Where(IsTest).Take(o.ConfirmPrompts).Select(p => p.Prompt).ToList();
        var candidates = shortlist.Select(s => Contents(s, translators, head, vocabSizes, costs, layers)).ToList();
        var ar = new double[2];
        var spec = new double[candidates.Count, 2];
        var hybrid = new double[candidates.Count, 2];
        int step = 0, steps = prompts.Count * (1 + 2 * candidates.Count);
        void Add(double[] acc, GenerationResult r) { acc[0] += Math.Max(0, r.Stats.GeneratedTokens - 1); acc[1] += r.Stats.DecodeSeconds; }
        foreach (var p in prompts)
        {
            cancellation.ThrowIfCancellationRequested();
            lm.UseCalibration(null);
            Report($"confirming: ar", 0.88 + 0.12 * step++ / steps);
            Add(ar, lm.Generate(p, new GenerationOptions { MaxTokens = o.ConfirmTokens, Method = DecodingMethod.Autoregressive }, cancellation: cancellation));
            for (int i = 0; i < candidates.Count; i++)
            {
                lm.UseCalibration(candidates[i]);
                var options = new GenerationOptions { MaxTokens = o.ConfirmTokens, Speculation = candidates[i].Speculation };
                Report($"confirming: candidate {i + 1} specbound", 0.88 + 0.12 * step++ / steps);
                var s = lm.Generate(p, options with { Method = DecodingMethod.SpecBound }, cancellation: cancellation);
                Report($"confirming: candidate {i + 1} hybrid", 0.88 + 0.12 * step++ / steps);
                var h = lm.Generate(p, options with { Method = DecodingMethod.Hybrid }, cancellation: cancellation);
                var a = new double[2]; var b = new double[2];
                Add(a, s); Add(b, h);
                spec[i, 0] += a[0]; spec[i, 1] += a[1];
                hybrid[i, 0] += b[0]; hybrid[i, 1] += b[1];
            }
        }
        lm.UseCalibration(null);
        double Rate(double tokens, double seconds) => seconds > 0 ? tokens / seconds : 0;
        return candidates.Select((cand, i) => new ConfirmReport($"#{i + 1}", cand.Speculation, cand.DraftTokens.Length, shortlist[i].Speedup,
            Rate(ar[0], ar[1]), Rate(spec[i, 0], spec[i, 1]), Rate(hybrid[i, 0], hybrid[i, 1]))).ToList();
    }
}
