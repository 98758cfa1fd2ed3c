using System.CommandLine;
using System.Text;
using System.Text.Json;
using SelfSpec.Decoding;
using SelfSpec.Sampling;
using SelfSpec.Tokenization;

namespace SelfSpec.Cli;

/// <summary><c>selfspec generate</c>: one prompt in, its continuation out (streamed, or one JSON object with --json).</summary>
internal static class GenerateCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var threads = CommonOptions.Threads();
        var sidecar = CommonOptions.Sidecar();
        var prompt = new Option<string?>("--prompt", "-p") { Description = "prompt text (raw: special tokens such as <|im_start|> are parsed)" };
        var promptFile = new Option<string?>("--prompt-file") { Description = "read the prompt from a file" };
        var chat = new Option<bool>("--chat") { Description = "wrap the prompt as a user message in the model's chat template" };
        var noThinking = CommonOptions.NoThinking();
        var maxTokens = new Option<int>("--max-tokens", "-n") { Description = "tokens to generate at most", DefaultValueFactory = _ => 256 };
        var method = new Option<string>("--method") { Description = "decoding method: ar, specbound, hybrid, static, lookup", DefaultValueFactory = _ => "hybrid" };
        var spec = SpeculationFlags.Create();
        method.AcceptOnlyFromAmong([.. DecodingMethodNames.All]);
        var temperature = new Option<float>("--temperature") { Description = "0 = greedy", DefaultValueFactory = _ => 0f };
        var topK = new Option<int>("--top-k") { Description = "0 = off", DefaultValueFactory = _ => 0 };
        var topP = new Option<float>("--top-p") { Description = "1 = off", DefaultValueFactory = _ => 1f };
        var minP = new Option<float>("--min-p") { Description = "0 = off", DefaultValueFactory = _ => 0f };
        var repeatPenalty = new Option<float>("--repeat-penalty") { Description = "1 = off", DefaultValueFactory = _ => 1f };
        var seed = new Option<ulong>("--seed") { Description = "random seed for sampling", DefaultValueFactory = _ => 0x5EEDUL };
        var json = new Option<bool>("--json") { Description = "print one JSON object: text, prompt_tokens, output_tokens, stats" };

        var cmd = new Command("generate", "generate a continuation of a prompt")
        {
            model, prompt, promptFile, chat, noThinking, maxTokens, method, temperature, topK, topP, minP, repeatPenalty, seed, threads, json, sidecar,
        };
        spec.AddTo(cmd);
        cmd.SetAction(r => ExitCodes.Guard(() =>
        {
            string text = (r.GetValue(prompt), r.GetValue(promptFile)) switch
            {
                (string p, null) => p,
                (null, string f) => File.ReadAllText(f),
                (null, null) => throw new InvalidRequestException("give a prompt with --prompt TEXT or --prompt-file FILE"),
                _ => throw new InvalidRequestException("give either --prompt or --prompt-file, not both"),
            };
            var options = new GenerationOptions
            {
                MaxTokens = r.GetValue(maxTokens),
                Method = DecodingMethodNames.Parse(r.GetValue(method)!),
                Speculation = spec.Read(r, SpeculationOptions.Default),
                Sampling = new SamplingOptions
                {
                    Temperature = r.GetValue(temperature),
                    TopK = r.GetValue(topK),
                    TopP = r.GetValue(topP),
                    MinP = r.GetValue(minP),
                    RepetitionPenalty = r.GetValue(repeatPenalty),
                    Seed = r.GetValue(seed),
                },
            };
            options.Validate();
            if (r.GetValue(noThinking) && !r.GetValue(chat))
                throw new InvalidRequestException("--no-thinking applies to the chat template: give --chat too");
            string path = ModelLocator.Resolve(r.GetValue(model));
            using var lm = CommonOptions.Load(path, r.GetValue(threads), r.GetValue(sidecar));
            options = options with { Speculation = spec.Read(r, lm.SpeculationDefaults) };
            lm.Validate(options);
            int[] tokens = r.GetValue(chat) ? lm.TokenizeChat([new ChatMessage("user", text)], CommonOptions.TemplateOptions(r, noThinking)) : lm.Tokenize(text);
            return r.GetValue(json) ? RunJson(lm, tokens, options) : RunStreaming(lm, tokens, options);
        }));
        return cmd;
    }

    private static int RunStreaming(LanguageModel lm, int[] prompt, GenerationOptions options)
    {
        using var stdout = new StreamWriter(Console.OpenStandardOutput(), new UTF8Encoding(false)) { AutoFlush = true };
        GenerationResult? result = null;
        foreach (var update in lm.GenerateAsync(prompt, options).ToBlockingEnumerable())
        {
            stdout.Write(update.Text);
            result = update.Result ?? result;
        }
        stdout.WriteLine();
        var s = result!.Stats;
        Console.Error.WriteLine($"[{DecodingMethodNames.Name(s.Method)}{(lm.SidecarPath != null ? ", calibrated" : "")}] prompt {s.PromptTokens} tokens at {s.PrefillTokensPerSecond:F1} tokens/s; " +
            $"generated {s.GeneratedTokens} tokens at {s.DecodeTokensPerSecond:F1} tokens/s ({result.FinishReason})");
        return ExitCodes.Ok;
    }

    private static int RunJson(LanguageModel lm, int[] prompt, GenerationOptions options)
    {
        var result = lm.Generate(prompt, options);
        using var stdout = Console.OpenStandardOutput();
        JsonSerializer.Serialize(stdout, result, SelfSpecJsonContext.Default.GenerationResult);
        stdout.WriteByte((byte)'\n');
        return ExitCodes.Ok;
    }
}
