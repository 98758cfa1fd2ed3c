using System.Text;
using System.Text.Json;
using SelfSpec.Decoding;
using SelfSpec.Tokenization;

namespace SelfSpec.Server.Tests.Server;

/// <summary>
/// Log-probabilities over HTTP in OpenAI's shapes, whole and streamed: the library's values (the full model's), the same
/// for every method, the alternatives sorted.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class LogprobsTests(ModelFixture fx)
{
    private const string Chat = "/v1/chat/completions";
    private const string Text = "/v1/completions";
    private const string Messages = """[{"role":"user","content":"Count: one, two, three, four, five, one, two, three, four, five, one, two,"}]""";
    private const int Tokens = 16;

    private GenerationResult Expected(int[] prompt, int top) =>
        fx.Model.Generate(prompt, new GenerationOptions { MaxTokens = Tokens, Method = DecodingMethod.Autoregressive, TopLogprobs = top });

    private int[] ChatPrompt() => fx.Model.TokenizeChat([new ChatMessage("user", "Count: one, two, three, four, five, one, two, three, four, five, one, two,")]);

    private static string TokenText(byte[] bytes) => Encoding.UTF8.GetString(bytes);

    [Theory]
    [InlineData("ar", false)]
    [InlineData("hybrid", false)]
    [InlineData("lookup", true)]
    [InlineData("hybrid", true)]
    public async Task ChatLogprobsAreTheLibrarysForEveryMethodWholeAndStreamed(string method, bool stream)
    {
        var expected = Expected(ChatPrompt(), 3);
        using var client = fx.Server.CreateClient();
        using var response = await Http.PostAsync(client, Chat,
            $$"""{"messages":{{Messages}},"max_tokens":{{Tokens}},"temperature":0,"logprobs":true,"top_logprobs":3,"stream":{{(stream ? "true" : "false")}},"selfspec":{"method":"{{method}}"} }""");
        Assert.Equal(200, (int)response.StatusCode);
        var content = new List<JsonElement>();
        if (stream)
        {
            foreach (string data in Http.SseData(await response.Content.ReadAsStringAsync()))
            {
                if (data == "[DONE]") break;
                using var doc = JsonDocument.Parse(data);
                var choice = doc.RootElement.GetProperty("choices")[0];
                if (choice.GetProperty("logprobs").ValueKind == JsonValueKind.Null) continue;
                foreach (var c in choice.GetProperty("logprobs").GetProperty("content").EnumerateArray()) content.Add(c.Clone());
            }
        }
        else
        {
            var json = await Http.ReadJsonAsync(response);
            var logprobs = json.GetProperty("choices")[0].GetProperty("logprobs");
            Assert.Equal(JsonValueKind.Null, logprobs.GetProperty("refusal").ValueKind);
            content.AddRange(logprobs.GetProperty("content").EnumerateArray());
        }

        Assert.Equal(expected.OutputTokens.Length, content.Count);
        var tokenizer = fx.Model.Tokenizer;
        for (int i = 0; i < content.Count; i++)
        {
            var want = expected.Logprobs![i];
            var got = content[i];
            byte[] bytes = [.. got.GetProperty("bytes").EnumerateArray().Select(b => (byte)b.GetInt32())];
            Assert.Equal(tokenizer.TokenBytes(want.Token), bytes);
            Assert.Equal(TokenText(bytes), got.GetProperty("token").GetString());
            Assert.Equal(want.Logprob, got.GetProperty("logprob").GetSingle()); // the float round-trips through JSON exactly
            var top = got.GetProperty("top_logprobs").EnumerateArray().ToArray();
            Assert.Equal(3, top.Length);
            for (int k = 0; k < top.Length; k++)
            {
                Assert.Equal(want.Top[k].Logprob, top[k].GetProperty("logprob").GetSingle());
                Assert.Equal(TokenText(tokenizer.TokenBytes(want.Top[k].Token)), top[k].GetProperty("token").GetString());
                if (k > 0) Assert.True(top[k].GetProperty("logprob").GetSingle() <= top[k - 1].GetProperty("logprob").GetSingle());
            }
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task CompletionLogprobsHaveTokensLogprobsTopAndOffsets(bool stream)
    {
        const string prompt = "Count: one, two, three, four, five, one, two, three,";
        var expected = Expected(fx.Model.Tokenize(prompt), 2);
        using var client = fx.Server.CreateClient();
        using var response = await Http.PostAsync(client, Text,
            $$"""{"prompt":"{{prompt}}","max_tokens":{{Tokens}},"temperature":0,"logprobs":2,"stream":{{(stream ? "true" : "false")}}}""");
        Assert.Equal(200, (int)response.StatusCode);
        var tokens = new List<string>();
        var logprobs = new List<float>();
        var tops = new List<JsonElement>();
        var offsets = new List<int>();
        var text = new StringBuilder();
        IEnumerable<JsonElement> choices;
        if (stream)
        {
            choices = Http.SseData(await response.Content.ReadAsStringAsync()).TakeWhile(d => d != "[DONE]")
                .Select(d => JsonDocument.Parse(d).RootElement.GetProperty("choices")[0].Clone()).ToList();
        }
        else choices = [(await Http.ReadJsonAsync(response)).GetProperty("choices")[0]];
        foreach (var choice in choices)
        {
            text.Append(choice.GetProperty("text").GetString());
            var lp = choice.GetProperty("logprobs");
            if (lp.ValueKind == JsonValueKind.Null) continue;
            tokens.AddRange(lp.GetProperty("tokens").EnumerateArray().Select(t => t.GetString()!));
            logprobs.AddRange(lp.GetProperty("token_logprobs").EnumerateArray().Select(t => t.GetSingle()));
            tops.AddRange(lp.GetProperty("top_logprobs").EnumerateArray());
            offsets.AddRange(lp.GetProperty("text_offset").EnumerateArray().Select(t => t.GetInt32()));
        }
        Assert.Equal(expected.Text, text.ToString());
        Assert.Equal(expected.OutputTokens.Length, tokens.Count);
        Assert.Equal(expected.Logprobs!.Select(l => l.Logprob), logprobs);
        Assert.Equal(expected.OutputTokens.Select(t => TokenText(fx.Model.Tokenizer.TokenBytes(t))), tokens);
        Assert.Equal(string.Concat(tokens), text.ToString()); // ASCII output: the tokens spell the text
        int offset = 0;
        for (int i = 0; i < tokens.Count; i++)
        {
            Assert.Equal(offset, offsets[i]);
            offset += tokens[i].Length;
            var top = tops[i].EnumerateObject().ToArray();
            Assert.InRange(top.Length, 1, 2);
            Assert.Equal(logprobs[i], top[0].Value.GetSingle()); // greedy: the chosen token is the most likely
            if (top.Length == 2) Assert.True(top[1].Value.GetSingle() <= top[0].Value.GetSingle());
        }
    }

    [Fact]
    public async Task WithoutLogprobsTheFieldIsNull()
    {
        using var client = fx.Server.CreateClient();
        using var response = await Http.PostAsync(client, Chat, $$"""{"messages":{{Messages}},"max_tokens":4,"logprobs":false}""");
        var json = await Http.ReadJsonAsync(response);
        Assert.Equal(JsonValueKind.Null, json.GetProperty("choices")[0].GetProperty("logprobs").ValueKind);
    }
}
