using SelfSpec.Decoding;
using SelfSpec.Tests.Model;

namespace SelfSpec.Tests.Api;

/// <summary>
/// Log-probabilities of committed tokens: the full model's, so equal for every method on the same greedy request, and
/// equal to a log-softmax of plain decoding's logits computed here independently.
/// </summary>
public sealed class LogprobsTests
{
    private const int Tokens = 24;
    private const int Top = 5;
    // Repetitive, so lookup and hybrid commit drafts from multi-row verification rounds.
    private const string Prompt = "red, green, blue, red, green, blue, red, green, blue, red, green, blue, red,";

    [Fact]
    public void EveryMethodReportsPlainDecodingsLogprobsBitForBit()
    {
        using var lm = LanguageModel.Load(TestModels.Bundled, threads: 2);
        int[] prompt = lm.Tokenize(Prompt);
        GenerationOptions Options(DecodingMethod m) => new() { MaxTokens = Tokens, Method = m, TopLogprobs = Top };
        var ar = lm.Generate(prompt, Options(DecodingMethod.Autoregressive));
        Assert.NotNull(ar.Logprobs);
        Assert.Equal(ar.OutputTokens.Length, ar.Logprobs!.Count);
        foreach (var method in new[] { DecodingMethod.Hybrid, DecodingMethod.Lookup, DecodingMethod.SpecBound })
        {
            var r = lm.Generate(prompt, Options(method));
            Assert.Equal(ar.OutputTokens, r.OutputTokens);
            if (method != DecodingMethod.SpecBound) Assert.True(r.Stats.Accepted > 0, $"{method} accepted no draft: the test would not cover verified rows");
            Assert.Equal(ar.Logprobs.Count, r.Logprobs!.Count);
            for (int i = 0; i < ar.Logprobs.Count; i++)
            {
                var (a, b) = (ar.Logprobs[i], r.Logprobs[i]);
                Assert.Equal(a.Token, b.Token);
                Assert.Equal(BitConverter.SingleToInt32Bits(a.Logprob), BitConverter.SingleToInt32Bits(b.Logprob));
                Assert.Equal(a.Top, b.Top); // record structs: token and logprob bit for bit
            }
        }
    }

    [Fact]
    public async Task BatchedGenerationsReportTheSoloLogprobsBitForBit()
    {
        // Under continuous batching each sequence's rows share passes with other sequences; the log-probabilities
        // of its tokens must still be those of the request decoded alone (rows are batch-invariant).
        string[] prompts = [Prompt, "one, two, three, one, two, three, one, two,", "The capital of France is"];
        GenerationOptions Options(DecodingMethod m) => new() { MaxTokens = Tokens, Method = m, TopLogprobs = Top };
        var solo = new List<GenerationResult>();
        using (var plain = LanguageModel.Load(TestModels.Bundled, threads: 2))
            foreach (var p in prompts) solo.Add(plain.Generate(plain.Tokenize(p), Options(DecodingMethod.Autoregressive)));

        using var lm = LanguageModel.Load(TestModels.Bundled, new ModelLoadOptions { Threads = 2, Parallel = 4 });
        var batched = await Concurrently.Run(prompts.Length, i =>
            lm.Generate(lm.Tokenize(prompts[i]), Options(i % 2 == 0 ? DecodingMethod.Hybrid : DecodingMethod.Autoregressive)));
        for (int k = 0; k < prompts.Length; k++)
        {
            Assert.Equal(solo[k].OutputTokens, batched[k].OutputTokens);
            Assert.Equal(solo[k].Logprobs!.Count, batched[k].Logprobs!.Count);
            for (int i = 0; i < solo[k].Logprobs!.Count; i++)
            {
                var (a, b) = (solo[k].Logprobs![i], batched[k].Logprobs![i]);
                Assert.Equal(BitConverter.SingleToInt32Bits(a.Logprob), BitConverter.SingleToInt32Bits(b.Logprob));
                Assert.Equal(a.Top, b.Top);
            }
        }
    }

    [Fact]
    public void LogprobsAreALogSoftmaxOfTheFullModelsLogitsWithTheTopSorted()
    {
        using var lm = LanguageModel.Load(TestModels.Bundled, threads: 2);
        int[] prompt = lm.Tokenize(Prompt);
        var r = lm.Generate(prompt, new GenerationOptions { MaxTokens = Tokens, Method = DecodingMethod.Hybrid, TopLogprobs = Top });

        // The logits of prompt + output in one plain forward pass, straight from the transformer.
        using var harness = new ModelHarness(TestModels.Bundled, threads: 2);
        int v = harness.Config.VocabSize;
        var (_, logits) = harness.Run([.. prompt, .. r.OutputTokens], [64]);
        for (int i = 0; i < r.OutputTokens.Length; i++)
        {
            float[] row = logits.AsSpan((prompt.Length - 1 + i) * v, v).ToArray();
            double max = double.NegativeInfinity, sum = 0;
            foreach (float z in row) max = Math.Max(max, z);
            foreach (float z in row) sum += Math.Exp(z - max);
            double logZ = max + Math.Log(sum);
            var lp = r.Logprobs![i];
            Assert.Equal(r.OutputTokens[i], lp.Token);
            Assert.Equal(row[lp.Token] - logZ, lp.Logprob, 1e-4);
            Assert.True(lp.Logprob <= 0);

            // The top: the highest logits, most likely first, the chosen (greedy) token at its head.
            var expected = Enumerable.Range(0, v).OrderByDescending(t => row[t]).ThenBy(t => t).Take(Top).ToArray();
            Assert.Equal(expected, lp.Top.Select(t => t.Token).ToArray());
            Assert.Equal(lp.Token, lp.Top[0].Token);
            for (int k = 0; k < Top; k++)
            {
                Assert.Equal(row[lp.Top[k].Token] - logZ, lp.Top[k].Logprob, 1e-4);
                if (k > 0) Assert.True(lp.Top[k].Logprob <= lp.Top[k - 1].Logprob);
            }
        }
    }

    [Fact]
    public async Task StreamedLogprobsMatchTheResultsAndStopAtTheStopSequence()
    {
        using var lm = LanguageModel.Load(TestModels.Bundled, threads: 2);
        int[] prompt = lm.Tokenize(Prompt);
        var options = new GenerationOptions { MaxTokens = Tokens, Method = DecodingMethod.Hybrid, TopLogprobs = 0, StopSequences = [" blue"] };
        var streamed = new List<TokenLogprobs>();
        GenerationResult? result = null;
        await foreach (var u in lm.GenerateAsync(prompt, options))
        {
            if (u.Token is int t)
            {
                Assert.NotNull(u.Logprobs);
                Assert.Equal(t, u.Logprobs!.Token);
                Assert.Empty(u.Logprobs.Top);
                streamed.Add(u.Logprobs);
            }
            result = u.Result ?? result;
        }
        Assert.Equal(FinishReason.StopSequence, result!.FinishReason);
        Assert.Equal(result.OutputTokens.Length, streamed.Count);
        Assert.Equal(streamed, result.Logprobs);

        // Without the option, nothing is computed or returned.
        var plain = lm.Generate(prompt, options with { TopLogprobs = null });
        Assert.Null(plain.Logprobs);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(21)]
    public void OutOfRangeTopLogprobsAreRefused(int top)
    {
        using var lm = LanguageModel.Load(TestModels.Bundled, threads: 1);
        var e = Assert.Throws<InvalidRequestException>(() => lm.Validate(new GenerationOptions { TopLogprobs = top }));
        Assert.Contains("logprobs", e.Message);
        lm.Validate(new GenerationOptions { TopLogprobs = GenerationOptions.MaxTopLogprobs });
    }
}
