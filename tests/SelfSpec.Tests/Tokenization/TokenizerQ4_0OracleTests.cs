namespace SelfSpec.Tests.Tokenization;

/// <summary>The Q4_0 requantization carries the same tokenizer: a quick subset of the oracle.</summary>
public sealed class TokenizerQ4_0OracleTests(Q4_0TokenizerFixture fx) : IClassFixture<Q4_0TokenizerFixture>
{
    [Fact]
    public void Subset_tokenizes_as_llama_cpp()
    {
        var texts = TokenizerOracleCases.EdgeCases.Concat(TokenizerOracleCases.SpecBenchTurns().Take(30));
        int n = 0;
        foreach (string text in texts)
        {
            Assert.Equal(fx.OracleEncode(text, true, true), fx.Tokenizer.Encode(text));
            n++;
        }
        Assert.True(n > 50);
    }
}
