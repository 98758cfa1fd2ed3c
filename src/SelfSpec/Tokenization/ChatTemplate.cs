using System.Text;
using System.Text.RegularExpressions;
using SelfSpec.Gguf;

namespace SelfSpec.Tokenization;

/// <summary>
/// Formats a conversation into a prompt. The family is recognized from <c>tokenizer.chat_template</c> by the same
/// marker strings llama.cpp's <c>llm_chat_detect_template</c> looks for (a Jinja template is not executed), and each
/// family is rendered as llama.cpp's <c>llm_chat_apply_template</c> renders it. A model without a template, or with
/// one that is not recognized, gets ChatML.
/// <para>One addition to llama.cpp: a ChatML template that inserts a fixed system message when the conversation
/// has none (SmolLM2: "You are a helpful AI assistant named SmolLM, trained by Hugging Face") has that message
/// taken from the template text and inserted the same way, as the model's own Jinja template does.</para>
/// <para>Another: a ChatML template with thinking tags (Qwen3) drops the <c>&lt;think&gt;...&lt;/think&gt;</c> part of
/// assistant turns before the last user message and writes the reasoning of the turns after it in a
/// <c>&lt;think&gt;</c> block, as Qwen3's Jinja template does (llama.cpp's built-in ChatML keeps the text as is); with
/// <see cref="ChatTemplateOptions.EnableThinking"/> false the generation prompt ends with an empty think block, as
/// the template renders <c>enable_thinking=false</c>.</para>
/// </summary>
public sealed partial class ChatTemplate
{
    /// <summary>Family names, as llama.cpp names its built-in templates.</summary>
    public const string ChatMl = "chatml", Llama3 = "llama3", Llama2 = "llama2", Llama2Sys = "llama2-sys",
        Llama2SysBos = "llama2-sys-bos", Llama2SysStrip = "llama2-sys-strip", MistralV1 = "mistral-v1",
        MistralV3 = "mistral-v3", MistralV3Tekken = "mistral-v3-tekken", MistralV7 = "mistral-v7", Zephyr = "zephyr",
        Gemma = "gemma", Phi3 = "phi3";

    private readonly bool _thinking;

    private ChatTemplate(string family, string? defaultSystemPrompt, bool thinking = false)
    {
        Family = family;
        DefaultSystemPrompt = defaultSystemPrompt;
        _thinking = thinking;
    }

    /// <summary>The recognized family (one of the constants of this class).</summary>
    public string Family { get; }

    /// <summary>The system message inserted when a conversation does not start with one, or null.</summary>
    public string? DefaultSystemPrompt { get; }

    /// <summary>The template of a model, from its <c>tokenizer.chat_template</c>.</summary>
    public static ChatTemplate FromGguf(GgufFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        return FromTemplateText(file.GetStringOrNull("tokenizer.chat_template"));
    }

    /// <summary>Recognizes the family of a Jinja chat template (or a family name such as "llama3").</summary>
    public static ChatTemplate FromTemplateText(string? template)
    {
        if (string.IsNullOrEmpty(template)) return new ChatTemplate(ChatMl, null);
        string family = Detect(template);
        string? system = null;
        if (family == ChatMl && template.Contains("messages[0]['role'] != 'system'", StringComparison.Ordinal))
        {
            Match m = DefaultSystemRegex().Match(template);
            if (m.Success) system = m.Groups["prompt"].Value;
        }
        bool thinking = family == ChatMl && template.Contains("<think>", StringComparison.Ordinal) && template.Contains("</think>", StringComparison.Ordinal);
        return new ChatTemplate(family, system, thinking);
    }

    [GeneratedRegex(@"'<\|im_start\|>system\n(?<prompt>[^'\\{}]*)<\|im_end\|>\n'")]
    private static partial Regex DefaultSystemRegex();

    private static readonly string[] Names =
    [
        ChatMl, Llama3, Llama2, Llama2Sys, Llama2SysBos, Llama2SysStrip, MistralV1, MistralV3, MistralV3Tekken, MistralV7,
        Zephyr, Gemma, Phi3,
    ];

    /// <summary>llama.cpp's detection order, restricted to the families rendered here.</summary>
    private static string Detect(string t)
    {
        if (Array.IndexOf(Names, t) >= 0) return t;
        bool Has(string s) => t.Contains(s, StringComparison.Ordinal);
        if (Has("<|im_start|>")) return ChatMl; // llama.cpp: phi4 with <|im_sep|>, smolvlm with <end_of_utterance>
        if (t.StartsWith("mistral", StringComparison.Ordinal) || Has("[INST]"))
        {
            if (Has("[SYSTEM_PROMPT]")) return MistralV7;
            if (Has("' [INST] ' + system_message") || Has("[AVAILABLE_TOOLS]"))
                return Has(" [INST]") ? MistralV1 : Has("\"[INST]\"") ? MistralV3Tekken : MistralV3;
            if (Has("content.strip()")) return Llama2SysStrip;
            if (Has("bos_token + '[INST]")) return Llama2SysBos;
            return Has("<<SYS>>") ? Llama2Sys : Llama2;
        }
        if (Has("<|assistant|>") && Has("<|end|>")) return Phi3;
        if (Has("<|assistant|>") && Has("<|user|>")) return ChatMl; // falcon3 / glmedge: not rendered here
        if (Has("<|user|>") && Has("<|endoftext|>")) return Zephyr;
        if (Has("<start_of_turn>")) return Gemma;
        if (Has("<|start_header_id|>") && Has("<|end_header_id|>")) return Llama3;
        return ChatMl;
    }

    /// <summary>The prompt for <paramref name="messages"/>; with <paramref name="addGenerationPrompt"/> it ends
    /// where the assistant's reply begins. Special tokens appear as text: encode with parseSpecial.</summary>
    /// <param name="options">the template's extra variables (<see cref="ChatTemplateOptions"/>); null for its defaults</param>
    public string Apply(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt = true, ChatTemplateOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        options ??= ChatTemplateOptions.Default;
        if (DefaultSystemPrompt != null && (messages.Count == 0 || messages[0].Role != "system"))
            messages = [new ChatMessage("system", DefaultSystemPrompt), .. messages];
        var sb = new StringBuilder();
        switch (Family)
        {
            case ChatMl when _thinking:
                ApplyChatMlThinking(messages, sb);
                if (addGenerationPrompt) sb.Append("<|im_start|>assistant\n");
                // Qwen3's non-thinking mode: the reply starts after an empty reasoning block.
                if (addGenerationPrompt && !options.EnableThinking) sb.Append("<think>\n\n</think>\n\n");
                break;
            case ChatMl:
                foreach (ChatMessage m in messages) sb.Append("<|im_start|>").Append(m.Role).Append('\n').Append(m.Content).Append("<|im_end|>\n");
                if (addGenerationPrompt) sb.Append("<|im_start|>assistant\n");
                break;
            case Llama3:
                foreach (ChatMessage m in messages)
                    sb.Append("<|start_header_id|>").Append(m.Role).Append("<|end_header_id|>\n\n").Append(Trim(m.Content)).Append("<|eot_id|>");
                if (addGenerationPrompt) sb.Append("<|start_header_id|>assistant<|end_header_id|>\n\n");
                break;
            case Llama2 or Llama2Sys or Llama2SysBos or Llama2SysStrip:
                ApplyLlama2(messages, sb);
                break;
            case MistralV1 or MistralV3 or MistralV3Tekken:
                ApplyMistral(messages, sb);
                break;
            case MistralV7:
                foreach (ChatMessage m in messages)
                {
                    if (m.Role == "system") sb.Append("[SYSTEM_PROMPT] ").Append(m.Content).Append("[/SYSTEM_PROMPT]");
                    else if (m.Role == "user") sb.Append("[INST] ").Append(m.Content).Append("[/INST]");
                    else sb.Append(' ').Append(m.Content).Append("</s>");
                }
                break;
            case Zephyr:
                foreach (ChatMessage m in messages) sb.Append("<|").Append(m.Role).Append("|>\n").Append(m.Content).Append("<|endoftext|>\n");
                if (addGenerationPrompt) sb.Append("<|assistant|>\n");
                break;
            case Phi3:
                foreach (ChatMessage m in messages) sb.Append("<|").Append(m.Role).Append("|>\n").Append(m.Content).Append("<|end|>\n");
                if (addGenerationPrompt) sb.Append("<|assistant|>\n");
                break;
            case Gemma:
                ApplyGemma(messages, sb, addGenerationPrompt);
                break;
        }
        return sb.ToString();
    }

    private void ApplyLlama2(IReadOnlyList<ChatMessage> messages, StringBuilder sb)
    {
        bool supportSystem = Family != Llama2, bosInside = Family == Llama2SysBos, strip = Family == Llama2SysStrip;
        bool insideTurn = true;
        sb.Append("[INST] ");
        foreach (ChatMessage m in messages)
        {
            string content = strip ? Trim(m.Content) : m.Content;
            if (!insideTurn)
            {
                insideTurn = true;
                sb.Append(bosInside ? "<s>[INST] " : "[INST] ");
            }
            if (m.Role == "system") sb.Append(supportSystem ? "<<SYS>>\n" + content + "\n<</SYS>>\n\n" : content + "\n");
            else if (m.Role == "user") sb.Append(content).Append(" [/INST]");
            else
            {
                sb.Append(content).Append("</s>");
                insideTurn = false;
            }
        }
    }

    private void ApplyMistral(IReadOnlyList<ChatMessage> messages, StringBuilder sb)
    {
        string lead = Family == MistralV1 ? " " : "", trail = Family == MistralV3Tekken ? "" : " ";
        bool trimAssistant = Family == MistralV3, insideTurn = false;
        foreach (ChatMessage m in messages)
        {
            if (!insideTurn)
            {
                sb.Append(lead).Append("[INST]").Append(trail);
                insideTurn = true;
            }
            if (m.Role == "system") sb.Append(m.Content).Append("\n\n");
            else if (m.Role == "user") sb.Append(m.Content).Append(lead).Append("[/INST]");
            else
            {
                sb.Append(trail).Append(trimAssistant ? Trim(m.Content) : m.Content).Append("</s>");
                insideTurn = false;
            }
        }
    }

    /// <summary>
    /// Qwen3's template without tools: assistant turns up to the last user message keep only the text after
    /// <c>&lt;/think&gt;</c>; later ones (the turn being continued) carry their reasoning in a <c>&lt;think&gt;</c> block,
    /// the last one even when it has none.
    /// </summary>
    private static void ApplyChatMlThinking(IReadOnlyList<ChatMessage> messages, StringBuilder sb)
    {
        int lastQuery = messages.Count - 1;
        for (int i = messages.Count - 1; i >= 0; i--)
        {
            string c = messages[i].Content;
            if (messages[i].Role == "user" && !(c.StartsWith("<tool_response>", StringComparison.Ordinal) && c.EndsWith("</tool_response>", StringComparison.Ordinal)))
            {
                lastQuery = i;
                break;
            }
        }
        for (int i = 0; i < messages.Count; i++)
        {
            ChatMessage m = messages[i];
            string content = m.Content;
            sb.Append("<|im_start|>").Append(m.Role).Append('\n');
            if (m.Role == "assistant")
            {
                string reasoning = "";
                int close = content.IndexOf("</think>", StringComparison.Ordinal);
                if (close >= 0)
                {
                    string before = content[..close].TrimEnd('\n');
                    int open = before.LastIndexOf("<think>", StringComparison.Ordinal);
                    reasoning = (open >= 0 ? before[(open + "<think>".Length)..] : before).TrimStart('\n');
                    content = content[(content.LastIndexOf("</think>", StringComparison.Ordinal) + "</think>".Length)..].TrimStart('\n');
                }
                if (i > lastQuery && (i == messages.Count - 1 || reasoning.Length > 0))
                {
                    sb.Append("<think>\n").Append(reasoning.Trim('\n')).Append("\n</think>\n\n");
                    content = content.TrimStart('\n');
                }
            }
            sb.Append(content).Append("<|im_end|>\n");
        }
    }

    private static void ApplyGemma(IReadOnlyList<ChatMessage> messages, StringBuilder sb, bool addGenerationPrompt)
    {
        string system = "";
        foreach (ChatMessage m in messages)
        {
            if (m.Role == "system")
            {
                system += Trim(m.Content); // Gemma has no system turn: merged into the next user turn
                continue;
            }
            string role = m.Role == "assistant" ? "model" : m.Role;
            sb.Append("<start_of_turn>").Append(role).Append('\n');
            if (system.Length > 0 && role != "model")
            {
                sb.Append(system).Append("\n\n");
                system = "";
            }
            sb.Append(Trim(m.Content)).Append("<end_of_turn>\n");
        }
        if (addGenerationPrompt) sb.Append("<start_of_turn>model\n");
    }

    // C's isspace set (llama.cpp's trim): space, \t, \n, \v, \f, \r.
    private static string Trim(string s) => s.Trim(' ', '\t', '\n', '\v', '\f', '\r');
}
