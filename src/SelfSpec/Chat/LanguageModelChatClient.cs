using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;
using SelfSpec.Decoding;
using SelfSpec.Sampling;
using SelfSpec.Tokenization;
using AiChatMessage = Microsoft.Extensions.AI.ChatMessage;
using TemplateMessage = SelfSpec.Tokenization.ChatMessage;

namespace SelfSpec.Chat;

/// <summary>
/// Microsoft.Extensions.AI's <see cref="IChatClient"/> over a loaded model: the messages go through the model's chat
/// template, the reply is generated with the client's <see cref="GenerationOptions"/> overridden by the request's
/// <see cref="ChatOptions"/> (max output tokens, temperature, top-p, top-k, seed, stop sequences; the additional property
/// <c>enable_thinking</c>, a bool, is the chat template's thinking switch, <see cref="ChatTemplateOptions"/>). Requests take the same
/// path as the server's chat route: <see cref="GenerationRequest.ForChat"/> builds and checks them, a
/// <see cref="SessionPool"/> chooses their session, so a conversation that continues an earlier call's reuses its cache.
/// The model is not owned: disposing the client leaves it open.
/// </summary>
public sealed class LanguageModelChatClient : IChatClient
{
    private readonly LanguageModel _model;
    private readonly GenerationOptions _defaults;
    private readonly ChatClientMetadata _metadata;
    private readonly SessionPool _sessions;

    /// <param name="model">The model to chat with.</param>
    /// <param name="defaults">Generation settings before the request's options (default: <see cref="GenerationOptions"/>'s).</param>
    /// <param name="modelId">The id reported in responses (default: the model file's name).</param>
    /// <param name="maxSessions">Conversations whose caches are kept between calls (least recently used dropped first).</param>
    public LanguageModelChatClient(LanguageModel model, GenerationOptions? defaults = null, string? modelId = null, int maxSessions = 4)
    {
        ArgumentNullException.ThrowIfNull(model);
        _model = model;
        _sessions = new SessionPool(model, maxSessions);
        _defaults = defaults ?? new GenerationOptions();
        _metadata = new ChatClientMetadata("selfspec", null, modelId ?? System.IO.Path.GetFileNameWithoutExtension(model.Path));
    }

    /// <inheritdoc/>
    public async Task<ChatResponse> GetResponseAsync(IEnumerable<AiChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        GenerationResult? result = null;
        await foreach (var u in RunAsync(messages, options, cancellationToken).ConfigureAwait(false)) result = u.Result ?? result;
        return new ChatResponse(new AiChatMessage(ChatRole.Assistant, result!.Text))
        {
            ModelId = _metadata.DefaultModelId,
            ResponseId = Guid.NewGuid().ToString("N"),
            CreatedAt = DateTimeOffset.UtcNow,
            FinishReason = Finish(result.FinishReason),
            Usage = Usage(result),
            RawRepresentation = result,
        };
    }

    /// <inheritdoc/>
    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<AiChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        string id = Guid.NewGuid().ToString("N");
        var created = DateTimeOffset.UtcNow;
        await foreach (var u in RunAsync(messages, options, cancellationToken).ConfigureAwait(false))
        {
            if (u.Result is { } result)
            {
                yield return new ChatResponseUpdate(ChatRole.Assistant, [new TextContent(u.Text), new UsageContent(Usage(result))])
                {
                    ResponseId = id, MessageId = id, ModelId = _metadata.DefaultModelId, CreatedAt = created,
                    FinishReason = Finish(result.FinishReason), RawRepresentation = result,
                };
            }
            else if (u.Text.Length > 0)
            {
                yield return new ChatResponseUpdate(ChatRole.Assistant, u.Text)
                {
                    ResponseId = id, MessageId = id, ModelId = _metadata.DefaultModelId, CreatedAt = created,
                };
            }
        }
    }

    /// <inheritdoc/>
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey != null) return null;
        if (serviceType == typeof(ChatClientMetadata)) return _metadata;
        if (serviceType.IsInstanceOfType(_model)) return _model;
        return serviceType.IsInstanceOfType(this) ? this : null;
    }

    /// <summary>Nothing to release: the model belongs to the caller.</summary>
    public void Dispose() { }

    /// <summary>The chat template's variables a request asks for: <c>enable_thinking</c> (a bool) among its additional properties.</summary>
    /// <exception cref="InvalidRequestException">enable_thinking is not a bool</exception>
    public static ChatTemplateOptions TemplateOptionsFor(ChatOptions? options) =>
        options?.AdditionalProperties?.TryGetValue("enable_thinking", out object? value) == true
            ? new ChatTemplateOptions
            {
                EnableThinking = value as bool? ?? throw new InvalidRequestException($"enable_thinking must be a bool, not {value?.GetType().Name ?? "null"}", "options"),
            }
            : ChatTemplateOptions.Default;

    /// <summary>The generation settings a request runs with: the client's, overridden by the request's options.</summary>
    public GenerationOptions OptionsFor(ChatOptions? options)
    {
        if (options == null) return _defaults;
        var s = _defaults.Sampling;
        return _defaults with
        {
            MaxTokens = options.MaxOutputTokens ?? _defaults.MaxTokens,
            StopSequences = options.StopSequences is { Count: > 0 } stops ? [.. stops] : _defaults.StopSequences,
            Sampling = s with
            {
                Temperature = options.Temperature ?? s.Temperature,
                TopP = options.TopP ?? s.TopP,
                TopK = options.TopK ?? s.TopK,
                Seed = options.Seed is long seed ? unchecked((ulong)seed) : s.Seed,
            },
        };
    }

    private async IAsyncEnumerable<GenerationUpdate> RunAsync(IEnumerable<AiChatMessage> messages, ChatOptions? options,
        [EnumeratorCancellation] CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var request = GenerationRequest.ForChat(_model, Template(messages, options?.Instructions), OptionsFor(options), options?.MaxOutputTokens,
            templateOptions: TemplateOptionsFor(options));
        await foreach (var u in _sessions.GenerateAsync(request, cancellation).ConfigureAwait(false)) yield return u;
    }

    private static List<TemplateMessage> Template(IEnumerable<AiChatMessage> messages, string? instructions)
    {
        var list = new List<TemplateMessage>();
        if (!string.IsNullOrEmpty(instructions)) list.Add(new TemplateMessage("system", instructions));
        foreach (var m in messages)
        {
            string role = m.Role == ChatRole.System ? "system" : m.Role == ChatRole.User ? "user" : m.Role == ChatRole.Assistant ? "assistant"
                : throw new InvalidRequestException($"message role '{m.Role}' is not supported (system, user and assistant are)", "messages");
            list.Add(new TemplateMessage(role, m.Text));
        }
        return list;
    }

    private static ChatFinishReason? Finish(FinishReason reason) => reason switch
    {
        FinishReason.EndOfGeneration or FinishReason.StopSequence => ChatFinishReason.Stop,
        FinishReason.Length or FinishReason.ContextFull => ChatFinishReason.Length,
        _ => null,
    };

    private static UsageDetails Usage(GenerationResult r) => new()
    {
        InputTokenCount = r.PromptTokens.Length,
        OutputTokenCount = r.OutputTokens.Length,
        TotalTokenCount = r.PromptTokens.Length + r.OutputTokens.Length,
        CachedInputTokenCount = r.Stats.CachedPromptTokens,
    };
}
