using SelfSpec.Gguf;
namespace SelfSpec.Tokenization;
// TEMPORARY stand-in until the tokenizer branch's chat templates are merged.
public sealed record ChatMessage(string Role, string Content);
public sealed class ChatTemplate
{
    public static ChatTemplate FromGguf(GgufFile file) => new();
    public string Apply(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt = true)
    {
        var sb = new System.Text.StringBuilder();
        if (messages.Count == 0 || messages[0].Role != "system") sb.Append("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n");
        foreach (var m in messages) sb.Append($"<|im_start|>{m.Role}\n{m.Content}<|im_end|>\n");
        if (addGenerationPrompt) sb.Append("<|im_start|>assistant\n");
        return sb.ToString();
    }
}
