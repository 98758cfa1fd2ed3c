using SelfSpec.Decoding;
using SelfSpec.Tokenization;

namespace SelfSpec;

/// <summary>
/// A request's prompt tokens and generation options, checked against the model: the one path from a front end's request
/// to a session. The server's routes and <see cref="Chat.LanguageModelChatClient"/> both build their requests here and run
/// them on a <see cref="SessionPool"/>, so they tokenize, limit and validate alike (docs/architecture.md, sessions and API).
/// Errors are <see cref="InvalidRequestException"/>s whose <see cref="InvalidRequestException.Param"/> names the input:
/// messages, prompt, max_tokens or options.
/// </summary>
public sealed record GenerationRequest
{
    private GenerationRequest(int[] prompt, GenerationOptions options)
    {
        Prompt = prompt;
        Options = options;
    }

    /// <summary>The prompt's token ids.</summary>
    public int[] Prompt { get; }

    /// <summary>The options, resolved: the model's speculation defaults filled in, the output limit inside the context.</summary>
    public GenerationOptions Options { get; }

    /// <summary>A chat: the messages through the model's chat template, with the generation prompt.</summary>
    /// <param name="maxTokens">the output limit the caller asked for (past the context: refused), or null for
    /// <paramref name="options"/>' limit cut to what the context leaves</param>
    /// <param name="contextLength">the most prompt + output tokens (default and at most: the model's context)</param>
    /// <param name="templateOptions">the chat template's extra variables (Qwen3's thinking switch); null for its defaults</param>
    public static GenerationRequest ForChat(LanguageModel model, IReadOnlyList<ChatMessage> messages, GenerationOptions options,
        int? maxTokens = null, int? contextLength = null, ChatTemplateOptions? templateOptions = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(messages);
        if (messages.Count == 0) throw new InvalidRequestException("no messages: at least one is needed", "messages");
        foreach (var m in messages)
            if (m.Role is not ("system" or "user" or "assistant"))
                throw new InvalidRequestException($"message role '{m.Role}' is not supported (system, user and assistant are)", "messages");
        int[] prompt;
        try
        {
            prompt = model.TokenizeChat(messages, templateOptions);
        }
        catch (InvalidRequestException e)
        {
            throw new InvalidRequestException(e.Message, "messages");
        }
        return Checked(model, prompt, "messages", options, maxTokens, contextLength);
    }

    /// <summary>Raw prompt text (special tokens written in it parsed, BOS added when the model asks).</summary>
    /// <inheritdoc cref="ForChat" path="/param"/>
    public static GenerationRequest ForText(LanguageModel model, string prompt, GenerationOptions options, int? maxTokens = null, int? contextLength = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(prompt);
        return Checked(model, model.Tokenize(prompt), "prompt", options, maxTokens, contextLength);
    }

    /// <summary>A prompt given as token ids.</summary>
    /// <inheritdoc cref="ForChat" path="/param"/>
    public static GenerationRequest ForTokens(LanguageModel model, int[] prompt, GenerationOptions options, int? maxTokens = null, int? contextLength = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(prompt);
        return Checked(model, [.. prompt], "prompt", options, maxTokens, contextLength);
    }

    private static GenerationRequest Checked(LanguageModel model, int[] prompt, string promptParam, GenerationOptions options, int? maxTokens, int? contextLength)
    {
        ArgumentNullException.ThrowIfNull(options);
        int context = Math.Min(contextLength ?? int.MaxValue, model.Config.ContextLength);
        if (prompt.Length == 0) throw new InvalidRequestException("the prompt is empty (no tokens)", promptParam);
        foreach (int t in prompt)
            if ((uint)t >= (uint)model.Config.VocabSize)
                throw new InvalidRequestException($"prompt token id {t} is outside the vocabulary (0..{model.Config.VocabSize - 1})", promptParam);
        if (prompt.Length >= context)
            throw new InvalidRequestException($"the prompt has {prompt.Length} tokens but the context holds {context} (prompt and output together)",
                promptParam, "context_length_exceeded");
        int room = context - prompt.Length;
        if (maxTokens is int max)
        {
            if (max < 1) throw new InvalidRequestException($"max tokens {max} must be at least 1", "max_tokens");
            if (max > room)
                throw new InvalidRequestException($"max tokens {max} plus the prompt's {prompt.Length} tokens exceed the context of {context} tokens (at most {room} can be generated)",
                    "max_tokens", "context_length_exceeded");
        }
        options = options with { MaxTokens = maxTokens ?? Math.Min(options.MaxTokens, room) };
        try
        {
            options = model.Resolve(options, prompt);
        }
        catch (InvalidRequestException e)
        {
            throw new InvalidRequestException(e.Message, "options");
        }
        return new GenerationRequest(prompt, options);
    }
}
