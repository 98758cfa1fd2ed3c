using SelfSpec.Decoding;

namespace SelfSpec.Tests.Api;

/// <summary>Stop sequences cut the text exactly where plain decoding would, whichever round committed the tokens.</summary>
public sealed class StopSequenceTests
{
    // Six repetitions: with four, the bundled model continues " and one two..." and lookup commits few drafts.
    private const string Prompt = "one two three four five, one two three four five, one two three four five, one two three four five, one two three four five, one two three four five,";

    [Fact]
    public async Task StopTextIsNeverShownAndCutsWhereAutoregressiveDecodingWould()
    {
        using var lm = LanguageModel.Load(TestModels.Bundled, threads: 2);
        int[] prompt = lm.Tokenize(Prompt);
        var ar = new GenerationOptions { MaxTokens = 40, Method = DecodingMethod.Autoregressive, StopAtEndOfGeneration = false };
        var lookup = ar with { Method = DecodingMethod.Lookup, Speculation = new SpeculationOptions { PriceBound = false } };
        var full = lm.Generate(prompt, ar);
        var copied = lm.Generate(prompt, lookup);
        Assert.Equal(full.OutputTokens, copied.OutputTokens);
        // Rounds commit several tokens at once, so some stop texts below end inside a round.
        Assert.True(copied.Stats.MeanAcceptedLength > 1.5, $"mean accepted length {copied.Stats.MeanAcceptedLength}");

        string text = full.Text;
        int checkedStops = 0;
        for (int k = 3; k + 3 < full.OutputTokens.Length; k += 3)
        {
            // A stop text from the middle of token k to the middle of token k + 2: it spans three tokens.
            int from = lm.Tokenizer.Decode(full.OutputTokens.AsSpan(0, k)).Length + 1;
            int to = lm.Tokenizer.Decode(full.OutputTokens.AsSpan(0, k + 2)).Length + 1;
            if (to - from < 2 || to > text.Length) continue;
            string stop = text[from..to];
            int cut = text.IndexOf(stop, StringComparison.Ordinal);
            int tokens = Enumerable.Range(1, full.OutputTokens.Length).First(m => lm.Tokenizer.Decode(full.OutputTokens.AsSpan(0, m)).Contains(stop, StringComparison.Ordinal));
            foreach (var options in new[] { ar, lookup })
            {
                var o = options with { StopSequences = ["never appears", stop] };
                var r = lm.Generate(prompt, o);
                Assert.Equal(FinishReason.StopSequence, r.FinishReason);
                Assert.Equal(text[..cut], r.Text);
                Assert.Equal(full.OutputTokens[..tokens], r.OutputTokens);

                var streamed = new System.Text.StringBuilder();
                await foreach (var u in lm.GenerateAsync(prompt, o))
                {
                    streamed.Append(u.Text);
                    Assert.DoesNotContain(stop, streamed.ToString(), StringComparison.Ordinal);
                }
                Assert.Equal(text[..cut], streamed.ToString());
            }
            checkedStops++;
        }
        Assert.True(checkedStops >= 5, $"only {checkedStops} stop texts checked");
    }

    [Fact]
    public void TextThatOnlyBeginsAStopSequenceIsReleasedAtTheEnd()
    {
        using var lm = LanguageModel.Load(TestModels.Bundled, threads: 2);
        int[] prompt = lm.Tokenize(Prompt);
        var plain = lm.Generate(prompt, new GenerationOptions { MaxTokens = 8, StopAtEndOfGeneration = false });
        // The whole output followed by text it never reaches: everything is held back, then released at the end.
        var r = lm.Generate(prompt, new GenerationOptions { MaxTokens = 8, StopAtEndOfGeneration = false, StopSequences = [plain.Text + "\u0001"] });
        Assert.Equal(FinishReason.Length, r.FinishReason);
        Assert.Equal(plain.Text, r.Text);
        Assert.Equal(plain.OutputTokens, r.OutputTokens);
    }
}
