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
        var cmd = new Command("chat", "chat with the model on the terminal") { model, threads, maxTokens };
        cmd.SetAction(r => ExitCodes.Guard(() =>
        {
            using var lm = CommonOptions.Load(ModelLocator.Resolve(r.GetValue(model)), r.GetValue(threads), sidecar: null);
            var history = new List<ChatMessage>();
            var options = new GenerationOptions { MaxTokens = r.GetValue(maxTokens) };
            while (true)
            {
                Console.Write("> ");
                string? line = Console.ReadLine();
                if (string.IsNullOrWhiteSpace(line)) return ExitCodes.Ok;
                history.Add(new ChatMessage("user", line));
                var detok = new StreamingDetokenizer(lm.Tokenizer);
                var result = lm.Generate(lm.TokenizeChat(history), options, t =>
                {
                    Console.Write(detok.Push(t));
                    return true;
                });
                Console.WriteLine(detok.Flush());
                history.Add(new ChatMessage("assistant", lm.Tokenizer.Decode(result.OutputTokens)));
            }
        }));
        return cmd;
    }
}
