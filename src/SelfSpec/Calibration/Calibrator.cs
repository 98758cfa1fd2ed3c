using System.Diagnostics;
using SelfSpec.Decoding;
using SelfSpec.Model;
using SelfSpec.Quantization;

namespace SelfSpec.Calibration;

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

        // 5. Costs (timed through the decoding loop), simulated search, real decoding.
        Report("timing calls", 0.83);
        int maxDrafts = o.MaxDrafts.Max();
        var timingPrompts = data.Prompts.Where(p => p.HeldOut && !IsTest(p)).Take(2).Select(p => p.Prompt).DefaultIfEmpty(prompts[0].Tokens).ToList();
        var costs = CostTiming.Measure(lm, timingPrompts, distilled, head, vocabSizes, layers, maxDrafts, o.TimingTokens, cancellation);
        Stage("timing");
        double fullHead = costs.HeadByRows[0];
        var vocabReports = vocabSizes.Select((n, vi) => new VocabReport(n, Coverage(data, test, head, n),
            Enumerable.Range(0, layers.Length).Average(li => testTable.Agreement(vi, li, data.Teacher.ArgMax)),
            costs.ExitHead[n] * 1e3, 1 - costs.ExitHead[n] / fullHead)).ToList();
        Report("searching parameters (cost model)", 0.85);
        var segments = Segments(data, validation);
        // Each setting replayed twice: with every exit checked, which gives its acceptance and fire rates (the
        // sidecar's priors), then gated by the price bound with those priors, as the decoder will run it.
        // Grid order kept (AsOrdered) and a stable sort, so ties (settings the bound stops alike) rank the same every run.
        var outcomes = ParameterSearch.Grid(valTable, o.Taus, o.MaxDrafts, o.MaxExitLayers).ToList().AsParallel().AsOrdered()
            .WithDegreeOfParallelism(Math.Max(1, o.Threads)).WithCancellation(cancellation)
            .Select(cfg =>
            {
                var open = ParameterSearch.Simulate(valTable, segments, data.Teacher.ArgMax, cfg, costs, c.LayerCount);
                var size = valTable.VocabSizes[cfg.VocabIndex];
                var gated = ParameterSearch.Simulate(valTable, segments, data.Teacher.ArgMax, cfg, costs, c.LayerCount,
                    new ExitPriors(open.Rates, costs.ExitHead[size] / costs.LayerByRows[0]));
                return gated with { Rates = open.Rates };
            })
            .ToList().OrderByDescending(r => r.Speedup).ToList();
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
            ModelPath = lm.Path,
            Layers = layerReports,
            Vocab = vocabReports,
            Costs = costs,
            DecoderCosts = CostTiming.Read(lm.Costs, c.LayerCount, costs.LayerByRows.Count, chosen.Vocab),
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
        var row = new byte[output.RowBytes];
        for (int i = 0; i < tokens.Length; i++)
        {
            output.ReadRow(tokens[i], row);
            Dequantize.Row(output.Type, row, weights.AsSpan(i * c.EmbeddingDim, c.EmbeddingDim));
        }
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

    private SidecarContents Contents(SearchOutcome outcome, Translator[] translators, DraftHead head, int[] vocabSizes, CalibrationCosts costs, int[] layers)
    {
        var cfg = outcome.Config;
        int n = vocabSizes[cfg.VocabIndex];
        int[] exits = cfg.LayerIndices.Select(i => layers[i]).ToArray();
        var spec = SpeculationOptions.Default with
        {
            Alpha = o.Alphas[cfg.AlphaIndex],
            Tau = cfg.Tau,
            MaxExitDrafts = cfg.MaxDrafts, // what the search measured: exit drafts; lookup keeps the default w_max
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
            HeadCostInLayers = costs.ExitHead[n] / costs.LayerByRows[0],
            Datastore = _generations,
        };
    }

    /// <summary>Real decoding of the shortlisted settings on test prompts, interleaved with plain decoding, prompt by prompt.</summary>
    private List<ConfirmReport> Confirm(CalibrationData data, List<SearchOutcome> shortlist, Translator[] translators, DraftHead head,
        int[] vocabSizes, int[] layers, CalibrationCosts costs, CancellationToken cancellation)
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
