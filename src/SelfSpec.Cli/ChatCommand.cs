using System.CommandLine;
using SelfSpec.Decoding;
using SelfSpec.Tokenization;

namespace SelfSpec.Cli;

/// <summary><c>selfspec chat</c>: an interactive conversation on the terminal (an empty line or EOF ends it).</summary>
internal static class ChatCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var threads = CommonOptions.Threads();
        var maxTokens = new Option<int>("--max-tokens", "-n") { Description = "tokens per reply at most", DefaultValueFactory = _ => 512 };
        var noThinking = CommonOptions.NoThinking();
        var cmd = new Command("chat", "chat with the model on the terminal") { model, threads, maxTokens, noThinking };
        cmd.SetAction(r => ExitCodes.Guard(() =>
        {
            using var lm = CommonOptions.Load(ModelLocator.Resolve(r.GetValue(model)), r.GetValue(threads), sidecar: null);
            var history = new List<ChatMessage>();
            // One session for the conversation: each turn computes only the tokens added since the last one.
            var session = lm.CreateSession();
            var options = new GenerationOptions { MaxTokens = r.GetValue(maxTokens) };
            var templateOptions = CommonOptions.TemplateOptions(r, noThinking);
            while (true)
            {
                Console.Write("> ");
                string? line = Console.ReadLine();
                if (string.IsNullOrWhiteSpace(line)) return ExitCodes.Ok;
                history.Add(new ChatMessage("user", line));
                var reply = new System.Text.StringBuilder();
                foreach (var update in session.GenerateAsync(lm.TokenizeChat(history, templateOptions), options).ToBlockingEnumerable())
                {
                    Console.Write(update.Text);
                    reply.Append(update.Text);
                }
                Console.WriteLine();
                history.Add(new ChatMessage("assistant", reply.ToString()));
            }
        }));
        return cmd;
    }
}
