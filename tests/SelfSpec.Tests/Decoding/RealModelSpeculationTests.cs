using SelfSpec.Decoding;

namespace SelfSpec.Tests.Decoding;

/// <summary>
/// The bundled SmolLM2-135M on Spec-Bench dev questions: every speculative method reproduces greedy autoregressive
/// output token for token (drafting forced for the early-exit methods, so rejections happen), and the price bound
/// learns that this model's early exits do not pay.
/// </summary>
public sealed class RealModelSpeculationTests
{
    private const int NewTokens = 40;

    /// <summary>Per method: settings that make it draft on this model (the bound would mostly decline early exits).</summary>
    private static readonly (DecodingMethod Method, SpeculationOptions Spec)[] Methods =
    [
        (DecodingMethod.Hybrid, SpeculationOptions.Default),
        (DecodingMethod.Lookup, SpeculationOptions.Default with { PriceBound = false }),
        (DecodingMethod.SpecBound, SpeculationOptions.Default with { PriceBound = false, ExitLayers = [12, 24], Tau = 0.3f, MaxDrafts = 3 }),
        (DecodingMethod.Static, SpeculationOptions.Default with { PriceBound = false, StaticExitLayer = 20, StaticDraftLength = 2 }),
        (DecodingMethod.Hybrid, SpeculationOptions.Default with { PriceBound = false, ExitLayers = [24], Tau = 0.5f }),
    ];

    /// <summary>
    /// Fixes the price bound's cost table at costs of this model's order (architecture.md 8: a head call costs about 14
    /// layers; one more row through a layer about 0.3 of a one-row call, the table's prior) and stops it learning,
    /// so what the bound decides depends on the model's drafts alone, not on the timings of a shared machine.
    /// </summary>
    private static void FixCosts(LanguageModel lm)
    {
        const double layer = 1e-4; // seconds per layer of a one-row call
        lm.Costs.Clear();
        lm.Costs.ObserveForward(1, 30, 30 * layer);
        lm.Costs.ObserveHead(1, 13.6 * layer);
        lm.Costs.ObserveExitHead(13.6 * layer);
        lm.Costs.Frozen = true;
    }

    [Fact]
    public void GreedyOutputEqualsAutoregressiveOnTwentyDevQuestions()
    {
        // No remembered answers: lookup would copy each question's answer from the plain run before it.
        using var one = LanguageModel.Load(TestModels.Bundled, new ModelLoadOptions { Threads = 1, RememberedAnswers = 0 });
        using var two = LanguageModel.Load(TestModels.Bundled, new ModelLoadOptions { Threads = 2, RememberedAnswers = 0 });
        // The datastore (architecture.md 5): the model remembers the earlier questions' answers, and holds this
        // question's answer with every sixth token changed, so its copies are accepted and then rejected.
        using var memo = LanguageModel.Load(TestModels.Bundled, new ModelLoadOptions { Threads = 2 });
        memo.Datastore.Recording = false;
        FixCosts(one);
        FixCosts(two);
        FixCosts(memo);
        int storeDrafted = 0, storeAccepted = 0;
        // The shortest prompts of each task, 20 in all (prefill dominates the time of long ones).
        var questions = SpecBench.Load()
            .Select((q, i) => (q, i, Length: two.Tokenize(SpecBench.ChatMl(q.Turns[0])).Length))
            .GroupBy(x => x.q.Category)
            .SelectMany(g => g.OrderBy(x => x.Length).Take(4))
            .OrderBy(x => x.Length).Take(20).OrderBy(x => x.i).Select(x => x.q).ToList();
        var drafted = new int[Methods.Length];
        var accepted = new int[Methods.Length];
        for (int qi = 0; qi < questions.Count; qi++)
        {
            int[] prompt = two.Tokenize(SpecBench.ChatMl(questions[qi].Turns[0]));
            var expected = two.Generate(prompt, new GenerationOptions { Method = DecodingMethod.Autoregressive, MaxTokens = NewTokens });
            // Every method at 2 threads; at 1 thread on every fifth question (the forward pass is thread-count invariant).
            for (int mi = 0; mi < Methods.Length; mi++)
                foreach (var lm in qi % 5 == 0 ? new[] { two, one } : [two])
                {
                    var (method, spec) = Methods[mi];
                    var actual = lm.Generate(prompt, new GenerationOptions { MaxTokens = NewTokens, Method = method, Speculation = spec });
                    Assert.True(expected.OutputTokens.SequenceEqual(actual.OutputTokens),
                        $"question {questions[qi].Id} {method} threads {lm.Threads}: first difference at {FirstDifference(expected.OutputTokens, actual.OutputTokens)}");
                    Assert.Equal(expected.FinishReason, actual.FinishReason);
                    drafted[mi] += actual.Stats.Drafted;
                    accepted[mi] += actual.Stats.Accepted;
                }
            int[] changed = expected.OutputTokens.Select((t, i) => i % 6 == 5 ? (t + 1) % memo.Config.VocabSize : t).ToArray();
            memo.Datastore.SetCalibration(changed);
            foreach (var spec in new[] { SpeculationOptions.Default, SpeculationOptions.Default with { PriceBound = false } })
                foreach (var method in new[] { DecodingMethod.Hybrid, DecodingMethod.Lookup })
                {
                    var actual = memo.Generate(prompt, new GenerationOptions { MaxTokens = NewTokens, Method = method, Speculation = spec });
                    Assert.True(expected.OutputTokens.SequenceEqual(actual.OutputTokens),
                        $"question {questions[qi].Id} {method} with the datastore: first difference at {FirstDifference(expected.OutputTokens, actual.OutputTokens)}");
                    Assert.Equal(expected.FinishReason, actual.FinishReason);
                    storeDrafted += actual.Stats.DraftedBySource.GetValueOrDefault("datastore");
                    storeAccepted += actual.Stats.AcceptedBySource.GetValueOrDefault("datastore");
                }
            memo.Datastore.Add(expected.OutputTokens);
        }
        Assert.True(storeAccepted > 0 && storeDrafted > storeAccepted, $"datastore drafted {storeDrafted}, accepted {storeAccepted}");
        // Each method and setting must have drafted, had drafts accepted and drafts rejected: one that quietly decoded
        // autoregressively would pass the comparison above.
        var idle = Enumerable.Range(0, Methods.Length)
            .Where(mi => !(accepted[mi] > 0 && drafted[mi] > accepted[mi]))
            .Select(mi => $"{Methods[mi].Method} #{mi}: drafted {drafted[mi]}, accepted {accepted[mi]}").ToList();
        Assert.True(idle.Count == 0, string.Join("; ", idle));
    }

    [Fact]
    public void ThePriceBoundFallsBackToPlainStepsWhenExitsDoNotPay()
    {
        using var lm = LanguageModel.Load(TestModels.Bundled, threads: 2);
        FixCosts(lm);
        foreach (var q in SpecBench.Stratified40().Skip(1).Take(3))
        {
            int[] prompt = lm.Tokenize(SpecBench.ChatMl(q.Turns[0]));
            var r = lm.Generate(prompt, new GenerationOptions { MaxTokens = 64, Method = DecodingMethod.SpecBound });
            var s = r.Stats;
            int rounds = Math.Max(1, s.Rounds);
            double rowsPerRound = (double)s.LayerRows / rounds;
            // A plain step computes 30 layer-rows; a head call costs about 14 layers on this model.
            Assert.True(rowsPerRound <= 30 * 1.1, $"question {q.Id}: {rowsPerRound:F1} layer-rows a round");
            Assert.True(s.ExitHeadCalls <= rounds / 8 + 2, $"question {q.Id}: {s.ExitHeadCalls} exit-head calls in {rounds} rounds");
        }
    }

    private static int FirstDifference(int[] a, int[] b)
    {
        int n = Math.Min(a.Length, b.Length);
        for (int i = 0; i < n; i++) if (a[i] != b[i]) return i;
        return n;
    }
}
