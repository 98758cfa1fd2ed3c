using SelfSpec.Decoding;
using SelfSpec.Sampling;

namespace SelfSpec.Tests.Api;

/// <summary>
/// Continuous batching (architecture.md 4): generations on a model loaded with <see cref="ModelLoadOptions.Parallel"/>
/// share forward passes, and each one's output is the output it gets alone, token for token.
/// </summary>
public sealed class BatchingTests
{
    private static readonly string[] Questions =
    [
        "What is the capital of France? Answer in one sentence.",
        "Write a short poem about the sea.",
        "Explain what a hash table is, then give an example in Python.",
        "List five fruits and their colors.",
    ];
    private static readonly int[] Lengths = [24, 64, 48, 36];
    private const int CancelledLength = 320;

    [Theory]
    [InlineData(DecodingMethod.Autoregressive)]
    [InlineData(DecodingMethod.Hybrid)]
    public async Task FourConcurrentGreedyRequestsEachEqualTheirSoloOutputOneCancelledMidway(DecodingMethod method)
    {
        int[][] prompts;
        GenerationOptions[] options;
        int[][] solo;
        using (var plain = LanguageModel.Load(TestModels.Bundled, threads: 2))
        {
            prompts = Questions.Select(q => plain.Tokenize(SpecBench.ChatMl(q))).ToArray();
            // The stream to cancel asks for many tokens: its updates queue without bound, so a reader that falls behind by
            // its whole length (on two busy cores, 54 tokens were once produced before the reader saw its tenth) would
            // find it finished, not cancelled.
            options = Lengths.Select((n, i) => new GenerationOptions { MaxTokens = i == 1 ? CancelledLength : n, Method = method }).ToArray();
            solo = prompts.Select((p, i) => plain.Generate(p, options[i]).OutputTokens).ToArray();
        }
        Assert.True(solo[1].Length > 200, "the request to cancel must run long enough to be cancelled midway");

        using var lm = LanguageModel.Load(TestModels.Bundled, new ModelLoadOptions { Threads = 2, Parallel = 4 });
        const int cancelAfter = 10;
        using var cancel = new CancellationTokenSource();
        var results = await Concurrently.RunAsync(prompts.Length, i => Stream(lm, prompts[i], options[i], i == 1 ? cancel : null, cancelAfter));

        for (int i = 0; i < prompts.Length; i++)
        {
            var (streamed, result) = results[i];
            Assert.Equal(result.OutputTokens, streamed);
            if (i == 1)
            {
                Assert.Equal(FinishReason.Cancelled, result.FinishReason);
                Assert.InRange(result.OutputTokens.Length, cancelAfter, solo[i].Length - 1);
                Assert.Equal(solo[i].Take(result.OutputTokens.Length), result.OutputTokens);
            }
            else
            {
                Assert.Equal(solo[i], result.OutputTokens);
            }
        }
        Assert.True(lm.Scheduler!.SharedPasses > 10, $"only {lm.Scheduler.SharedPasses} of {lm.Scheduler.Passes} passes carried several sequences");
        Assert.Equal(0, lm.ActiveGenerations);
    }

    [Fact]
    public async Task SampledRequestsWithFixedSeedsEqualTheirSoloOutput()
    {
        var sampling = Enumerable.Range(0, 4).Select(i => new SamplingOptions { Temperature = 0.8f, TopP = 0.95f, Seed = (ulong)(17 + i) }).ToArray();
        int[][] prompts;
        int[][] soloAr;
        using (var plain = LanguageModel.Load(TestModels.Bundled, threads: 2))
        {
            prompts = Questions.Select(q => plain.Tokenize(SpecBench.ChatMl(q))).ToArray();
            soloAr = prompts.Select((p, i) => plain.Generate(p, Ar(i)).OutputTokens).ToArray();
        }
        // No remembered answers: batched lookup searches the datastore, which would hold the solo runs' answers by the
        // time the concurrent ones draft.
        using var lm = LanguageModel.Load(TestModels.Bundled, new ModelLoadOptions { Threads = 2, Parallel = 4, RememberedAnswers = 0 });
        // Lookup drafting without the timed bound drafts the same in any pass, so its sampled rounds are the same too.
        GenerationOptions Lookup(int i) => new()
        {
            MaxTokens = Lengths[i], Method = DecodingMethod.Lookup, Sampling = sampling[i],
            Speculation = SpeculationOptions.Default with { PriceBound = false },
        };
        var soloLookup = prompts.Select((p, i) => lm.Generate(p, Lookup(i)).OutputTokens).ToArray();

        var ar = await Concurrently.Run(prompts.Length, i => lm.Generate(prompts[i], Ar(i)).OutputTokens);
        var lookup = await Concurrently.Run(prompts.Length, i => lm.Generate(prompts[i], Lookup(i)).OutputTokens);
        for (int i = 0; i < prompts.Length; i++)
        {
            Assert.Equal(soloAr[i], ar[i]);
            Assert.Equal(soloLookup[i], lookup[i]);
        }
        Assert.True(lm.Scheduler!.SharedPasses > 10, $"only {lm.Scheduler.SharedPasses} passes carried several sequences");
        // Different seeds drew different continuations: the comparison above is not between copies of one text.
        Assert.True(ar.Select(a => string.Join(",", a)).Distinct().Count() == ar.Length);

        GenerationOptions Ar(int i) => new() { MaxTokens = Lengths[i], Method = DecodingMethod.Autoregressive, Sampling = sampling[i] };
    }

    [Fact]
    public async Task ACancelledRequestFreesItsSlotForTheWaitingOne()
    {
        using var lm = LanguageModel.Load(TestModels.Bundled, new ModelLoadOptions { Threads = 2, Parallel = 1 });
        int[] longPrompt = lm.Tokenize(SpecBench.ChatMl(Questions[2]));
        int[] shortPrompt = lm.Tokenize(SpecBench.ChatMl(Questions[0]));
        var shortOptions = new GenerationOptions { MaxTokens = 16, Method = DecodingMethod.Autoregressive };
        var expected = lm.Generate(shortPrompt, shortOptions).OutputTokens;

        using var cancel = new CancellationTokenSource();
        var first = lm.CreateSession().GenerateAsync(longPrompt, new GenerationOptions { MaxTokens = 10_000, Method = DecodingMethod.Autoregressive, StopAtEndOfGeneration = false }, cancel.Token)
            .GetAsyncEnumerator();
        Assert.True(await first.MoveNextAsync()); // the long request holds the only slot
        var waiting = Task.Run(() => lm.Generate(shortPrompt, shortOptions));
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (lm.WaitingGenerations == 0 && DateTime.UtcNow < deadline) await Task.Delay(5);
        Assert.Equal(1, lm.WaitingGenerations);
        Assert.Equal(1, lm.ActiveGenerations);
        Assert.False(waiting.IsCompleted);

        cancel.Cancel();
        GenerationResult? cancelled = null;
        while (await first.MoveNextAsync()) cancelled = first.Current.Result ?? cancelled;
        await first.DisposeAsync();
        Assert.Equal(FinishReason.Cancelled, cancelled!.FinishReason);
        var second = await waiting.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(expected, second.OutputTokens);
        Assert.Equal(0, lm.WaitingGenerations);
    }

    [Fact]
    public async Task ConcurrentChatClientCallsSharePassesAndEqualTheirSoloAnswersWithStopSequences()
    {
        var options = new Microsoft.Extensions.AI.ChatOptions { MaxOutputTokens = 40, StopSequences = ["\n\n"] };
        string[] expected;
        using (var plain = LanguageModel.Load(TestModels.Bundled, threads: 2))
        {
            using var solo = new Chat.LanguageModelChatClient(plain);
            expected = new string[Questions.Length];
            for (int i = 0; i < Questions.Length; i++)
                expected[i] = (await solo.GetResponseAsync([new(Microsoft.Extensions.AI.ChatRole.User, Questions[i])], options)).Text;
        }
        using var lm = LanguageModel.Load(TestModels.Bundled, new ModelLoadOptions { Threads = 2, Parallel = 4 });
        using var client = new Chat.LanguageModelChatClient(lm);
        var streamed = await Concurrently.RunAsync(Questions.Length, async i =>
        {
            var text = new System.Text.StringBuilder();
            await foreach (var u in client.GetStreamingResponseAsync([new(Microsoft.Extensions.AI.ChatRole.User, Questions[i])], options)) text.Append(u.Text);
            return text.ToString();
        });
        Assert.Equal(expected, streamed);
        Assert.Contains(expected, e => e.Length > 0);
        Assert.True(lm.Scheduler!.SharedPasses > 5, $"only {lm.Scheduler.SharedPasses} passes carried several sequences");
    }

    [Fact]
    public async Task BatchedLookupDraftsFromTheDatastoreAndStaysExact()
    {
        // A server batches every request (serve --parallel 4 by default), and the datastore's point is a long-lived
        // process: batched sequences must search the model's earlier answers as the plain loop does.
        using var lm = LanguageModel.Load(TestModels.Bundled, new ModelLoadOptions { Threads = 2, Parallel = 2 });
        lm.Datastore.Recording = false;
        var prompts = Questions.Take(2).Select(q => lm.Tokenize(SpecBench.ChatMl(q))).ToArray();
        var ar = prompts.Select(p => lm.Generate(p, new GenerationOptions { MaxTokens = 64, Method = DecodingMethod.Autoregressive }).OutputTokens).ToArray();
        // Each answer remembered with every sixth token changed: its copies are accepted, then rejected.
        foreach (var answer in ar) lm.Datastore.Add(answer.Select((t, i) => i % 6 == 5 ? (t + 1) % lm.Config.VocabSize : t).ToArray());
        // Without the price bound: whether a datastore copy pays depends on this machine's timings and on rates learned
        // over the model's generations (on a slow spell the bound took none: 5 drafted, 0 accepted).
        var spec = SpeculationOptions.Default with { PriceBound = false };
        foreach (var method in new[] { DecodingMethod.Lookup, DecodingMethod.Hybrid })
        {
            var results = await Concurrently.Run(prompts.Length, i => lm.Generate(prompts[i], new GenerationOptions { MaxTokens = 64, Method = method, Speculation = spec }));
            int drafted = 0, accepted = 0;
            for (int i = 0; i < prompts.Length; i++)
            {
                var s = results[i].Stats;
                Assert.Equal(ar[i], results[i].OutputTokens);
                drafted += s.DraftedBySource.GetValueOrDefault("datastore");
                accepted += s.AcceptedBySource.GetValueOrDefault("datastore");
                // Rounds are counted by source as the plain loop counts them.
                Assert.Equal(s.Drafted, s.DraftedBySource.Values.Sum());
                Assert.Equal(s.Accepted, s.AcceptedBySource.Values.Sum());
                Assert.Equal(s.RoundsWithDraft, s.RoundsBySource.Values.Sum());
                Assert.Equal(s.Accepted + s.RoundsWithDraft, s.CommittedBySource.Values.Sum());
            }
            Assert.True(accepted > 0 && drafted > accepted, $"{method}: datastore drafted {drafted}, accepted {accepted}");
        }
    }

    [Fact]
    public void ParallelOutsideItsRangeIsRefused()
    {
        Assert.Throws<InvalidRequestException>(() => LanguageModel.Load(TestModels.Bundled, new ModelLoadOptions { Threads = 1, Parallel = -1 }));
        Assert.Throws<InvalidRequestException>(() => LanguageModel.Load(TestModels.Bundled, new ModelLoadOptions { Threads = 1, Parallel = LanguageModel.MaxBatch + 1 }));
    }

    /// <summary>Streams one generation on its own session; cancels after <paramref name="after"/> tokens when given a source.</summary>
    private static async Task<(int[] Streamed, GenerationResult Result)> Stream(LanguageModel lm, int[] prompt, GenerationOptions options, CancellationTokenSource? cancel, int after)
    {
        var tokens = new List<int>();
        GenerationResult? result = null;
        await foreach (var u in lm.CreateSession().GenerateAsync(prompt, options, cancel?.Token ?? default))
        {
            if (u.Token is int t) tokens.Add(t);
            if (u.Result != null) result = u.Result;
            if (cancel != null && tokens.Count == after) cancel.Cancel();
        }
        return ([.. tokens], result!);
    }
}
