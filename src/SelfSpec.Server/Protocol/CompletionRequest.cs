using SelfSpec.Decoding;
using SelfSpec.Sampling;
using SelfSpec.Tokenization;

namespace SelfSpec.Server.Protocol;

/// <summary>A chat or text completion request, parsed and checked field by field (nothing about the model yet).</summary>
internal sealed record CompletionRequest
{
    /// <summary>True for /v1/chat/completions (messages), false for /v1/completions (prompt).</summary>
    public required bool IsChat { get; init; }
    public string? Model { get; init; }
    public IReadOnlyList<ChatMessage> Messages { get; init; } = [];
    /// <summary>Chat: the template's extra variables (chat_template_kwargs).</summary>
    public ChatTemplateOptions TemplateOptions { get; init; } = ChatTemplateOptions.Default;
    /// <summary>The raw prompt text of a text completion, or null when it came as token ids.</summary>
    public string? Prompt { get; init; }
    public int[]? PromptTokens { get; init; }
    /// <summary>max_completion_tokens, else max_tokens; null = the rest of the context.</summary>
    public int? MaxTokens { get; init; }
    /// <summary>Which request field <see cref="MaxTokens"/> came from, for error messages.</summary>
    public string MaxTokensField { get; init; } = "max_tokens";
    public SamplingOptions Sampling { get; init; } = SamplingOptions.Greedy;
    public IReadOnlyList<string> Stop { get; init; } = [];
    /// <summary>Null: no logprobs; else the alternatives per token (chat: top_logprobs with logprobs true; completions: logprobs).</summary>
    public int? TopLogprobs { get; init; }
    public bool Stream { get; init; }
    public bool IncludeUsage { get; init; }
    public DecodingMethod? Method { get; init; }
    public SpeculationOverrides Speculation { get; init; } = new();
}

/// <summary>The speculation settings a request's <c>selfspec</c> object changes; null fields keep the model's.</summary>
internal sealed record SpeculationOverrides
{
    public float? Alpha { get; init; }
    public float? Tau { get; init; }
    public int? MaxDepth { get; init; }
    public int? MaxDrafts { get; init; }
    public IReadOnlyList<int>? ExitLayers { get; init; }
    public int? StaticExitLayer { get; init; }
    public int? StaticDraftLength { get; init; }
    public bool? PriceBound { get; init; }

    public SpeculationOptions Apply(SpeculationOptions d) => d with
    {
        Alpha = Alpha ?? d.Alpha,
        Tau = Tau ?? d.Tau,
        MaxDepth = MaxDepth ?? d.MaxDepth,
        MaxDrafts = MaxDrafts ?? d.MaxDrafts,
        ExitLayers = ExitLayers ?? d.ExitLayers,
        StaticExitLayer = StaticExitLayer ?? d.StaticExitLayer,
        StaticDraftLength = StaticDraftLength ?? d.StaticDraftLength,
        PriceBound = PriceBound ?? d.PriceBound,
    };
}
