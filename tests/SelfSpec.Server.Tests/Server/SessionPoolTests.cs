using SelfSpec.Decoding;
using SelfSpec.Server.Generation;
using TemplateMessage = SelfSpec.Tokenization.ChatMessage;

namespace SelfSpec.Server.Tests.Server;

/// <summary>Conversations keep their own sessions; sharing only the chat template's opening does not steal one; the least recently used goes first.</summary>
[Collection(ServerCollection.Name)]
public sealed class SessionPoolTests(ModelFixture fx)
{
    private ModelSession Run(SessionPool pool, int[] prompt)
    {
        var session = pool.Rent(prompt);
        session.Generate(prompt, new GenerationOptions { MaxTokens = 2, Method = DecodingMethod.Autoregressive });
        pool.Return(session);
        return session;
    }

    private int[] Chat(params string[] userTurns) =>
        fx.Model.TokenizeChat([new TemplateMessage("system", "Be brief."), .. userTurns.SelectMany((t, i) =>
            i == 0 ? new[] { new TemplateMessage("user", t) } : [new TemplateMessage("assistant", "ok"), new TemplateMessage("user", t)])]);

    [Fact]
    public void ConversationsKeepTheirSessionsAndTheLeastRecentlyUsedIsEvicted()
    {
        var pool = new SessionPool(fx.Model, capacity: 2);
        var a = Run(pool, Chat("Tell me about cats."));
        var b = Run(pool, Chat("Tell me about dogs."));
        Assert.NotSame(a, b); // shares the template's opening with a, but is not a's conversation
        Assert.Same(a, Run(pool, Chat("Tell me about cats.", "More.")));
        Assert.Same(b, Run(pool, Chat("Tell me about dogs.", "More.")));
        Assert.Equal(2, pool.Count);
        // A third conversation takes the least recently used session (a's), never growing the pool.
        Assert.Same(a, Run(pool, Chat("Tell me about birds.")));
        Assert.Equal(2, pool.Count);
        Assert.Same(b, Run(pool, Chat("Tell me about dogs.", "More.", "Even more.")));
    }
}
