using SelfSpec.Decoding;
using SelfSpec.Tests.Oracle;
using Xunit.Abstractions;

namespace SelfSpec.Tests.Model;

/// <summary>Greedy 128-token continuations of 40 dev questions against llama.cpp's on the same file.</summary>
public sealed class OracleGreedyTests(ITestOutputHelper output)
{
    [Fact]
    public void GreedyContinuationsMostlyMatchLlamaCpp()
    {
        const int maxTokens = 128;
        using var lm = LanguageModel.Load(TestModels.Bundled, threads: 2);
        using var oracle = new LlamaOracle(TestModels.Bundled, contextSize: 4096);
        using var oracleNoFlash = new LlamaOracle(TestModels.Bundled, contextSize: 4096, flashAttention: false);
        int identical = 0, total = 0, llamaSelf = 0, identicalNoFlash = 0;
        var firstDiffs = new List<int>();
        foreach (var q in SpecBench.Stratified40())
        {
            int[] prompt = lm.Tokenize(SpecBench.ChatMl(q.Turns[0]));
            int[] expected = oracle.Greedy(prompt, maxTokens, lm.Tokenizer.IsEndOfGeneration);
            int[] actual = lm.Generate(prompt, new GenerationOptions { MaxTokens = maxTokens }).OutputTokens;
            // llama.cpp against itself with its other attention path: how much agreement rounding alone allows.
            int[] noFlash = oracleNoFlash.Greedy(prompt, maxTokens, lm.Tokenizer.IsEndOfGeneration);
            if (noFlash.AsSpan().SequenceEqual(expected)) llamaSelf++;
            if (noFlash.AsSpan().SequenceEqual(actual)) identicalNoFlash++;
            int same = 0;
            while (same < Math.Min(expected.Length, actual.Length) && expected[same] == actual[same]) same++;
            total++;
            if (same == expected.Length && same == actual.Length) identical++;
            else firstDiffs.Add(same);
            output.WriteLine($"q{q.Id,-4} {q.Category,-15} prompt {prompt.Length,5}  ours {actual.Length,3}  llama.cpp {expected.Length,3}  " +
                (same == expected.Length && same == actual.Length ? "identical" : $"first difference at token {same}"));
        }
        output.WriteLine($"identical to llama.cpp: {identical}/{total}; first differences at: {string.Join(", ", firstDiffs.Order())}");
        output.WriteLine($"identical to llama.cpp without flash attention: {identicalNoFlash}/{total}; " +
            $"llama.cpp with and without flash attention identical to each other: {llamaSelf}/{total}");
        Assert.Equal(40, total);
        Assert.True(identical >= total / 2, $"only {identical} of {total} greedy continuations match llama.cpp");
    }
}
