namespace SelfSpec.Tokenization;

/// <summary>
/// What a chat template reads besides the messages (the extra variables its Jinja text may test). A template that does
/// not use an option renders the same with or without it, as its Jinja text does.
/// </summary>
public sealed record ChatTemplateOptions
{
    /// <summary>
    /// False asks a template with thinking tags (Qwen3) for a reply without reasoning: its Jinja
    /// <c>enable_thinking=false</c>, which opens the reply with an empty <c>&lt;think&gt;</c> block after the generation
    /// prompt. True (the default) leaves the reply to begin as the template writes it.
    /// </summary>
    public bool EnableThinking { get; init; } = true;

    /// <summary>The template's own defaults.</summary>
    public static ChatTemplateOptions Default { get; } = new();
}
