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

    [Fact]
    public void GreedyOutputEqualsAutoregressiveOnTwentyDevQuestions()
    {
        using var one = LanguageModel.Load(TestModels.Bundled, threads: 1);
        using var two = LanguageModel.Load(TestModels.Bundled, threads: 2);
        // The shortest prompts of each task, 20 in all (prefill dominates the time of long ones).
        var questions = SpecBench.Load()
            .Select((q, i) => (q, i, Length: two.Tokenize(SpecBench.ChatMl(q.Turns[0])).Length))
            .GroupBy(x => x.q.Category)
            .SelectMany(g => g.OrderBy(x => x.Length).Take(4))
            .OrderBy(x => x.Length).Take(20).OrderBy(x => x.i).Select(x => x.q).ToList();
        int drafted = 0, accepted = 0;
        for (int qi = 0; qi < questions.Count; qi++)
        {
            int[] prompt = two.Tokenize(SpecBench.ChatMl(questions[qi].Turns[0]));
            var expected = two.Generate(prompt, new GenerationOptions { Method = DecodingMethod.Autoregressive, MaxTokens = NewTokens });
            // Every method at 2 threads; at 1 thread on every fifth question (the forward pass is thread-count invariant).
            foreach (var (method, spec) in Methods)
                foreach (var lm in qi % 5 == 0 ? new[] { two, one } : [two])
                {
                    var actual = lm.Generate(prompt, new GenerationOptions { MaxTokens = NewTokens, Method = method, Speculation = spec });
                    Assert.True(expected.OutputTokens.SequenceEqual(actual.OutputTokens),
                        $"question {questions[qi].Id} {method} threads {lm.Threads}: first difference at {FirstDifference(expected.OutputTokens, actual.OutputTokens)}");
                    Assert.Equal(expected.FinishReason, actual.FinishReason);
                    drafted += actual.Stats.Drafted;
                    accepted += actual.Stats.Accepted;
                }
        }
        Assert.True(accepted > 0 && drafted > accepted, $"drafted {drafted}, accepted {accepted}: both acceptances and rejections must occur");
    }

    [Fact]
    public void ThePriceBoundFallsBackToPlainStepsWhenExitsDoNotPay()
    {
        using var lm = LanguageModel.Load(TestModels.Bundled, threads: 2);
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
