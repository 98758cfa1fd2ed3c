// The chat templates of the architectures real downloads use (Gemma 2 and 3, Phi-3, Llama 3.x, Qwen3), as their
// GGUF files carry them: the family is recognized from the file, and the prompt is the one llama.cpp renders from the
// same file (LLamaSharp's template on a tiny model carrying the real template string) and, written out by hand from
// each Jinja template, the one the model was trained on. Where llama.cpp's built-in rendering differs from the Jinja
// template (Qwen3's thinking tags in earlier assistant turns), the Jinja template's prompt is the one asserted.
using System.Text;
using LLama;
using LLama.Common;
using SelfSpec.Gguf;
using SelfSpec.Quantization;
using SelfSpec.Tokenization;

namespace SelfSpec.Tests.Tokenization;

public sealed class ArchitectureChatTemplateTests
{
    // The templates as the models' tokenizer_config.json / GGUF files carry them (tool-calling branches of the
    // Llama 3.1 and Qwen3 templates left out: they are not reached without tools).
    private const string Gemma2 =
        "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}{% for message in messages %}" +
        "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}" +
        "{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}" +
        "{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}";

    private const string Gemma3 =
        "{{ bos_token }}\n{%- if messages[0]['role'] == 'system' -%}\n    {%- if messages[0]['content'] is string -%}\n" +
        "        {%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}\n    {%- else -%}\n" +
        "        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\n\n' -%}\n    {%- endif -%}\n" +
        "    {%- set loop_messages = messages[1:] -%}\n{%- else -%}\n    {%- set first_user_prefix = \"\" -%}\n    {%- set loop_messages = messages -%}\n{%- endif -%}\n" +
        "{%- for message in loop_messages -%}\n    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}\n" +
        "        {{ raise_exception(\"Conversation roles must alternate user/assistant/user/assistant/...\") }}\n    {%- endif -%}\n" +
        "    {%- if (message['role'] == 'assistant') -%}\n        {%- set role = \"model\" -%}\n    {%- else -%}\n        {%- set role = message['role'] -%}\n    {%- endif -%}\n" +
        "    {{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else \"\") }}\n    {%- if message['content'] is string -%}\n" +
        "        {{ message['content'] | trim }}\n    {%- endif -%}\n    {{ '<end_of_turn>\n' }}\n{%- endfor -%}\n" +
        "{%- if add_generation_prompt -%}\n    {{'<start_of_turn>model\n'}}\n{%- endif -%}\n";

    private const string Phi3 =
        "{% for message in messages %}{% if message['role'] == 'system' %}{{'<|system|>\n' + message['content'] + '<|end|>\n'}}" +
        "{% elif message['role'] == 'user' %}{{'<|user|>\n' + message['content'] + '<|end|>\n'}}" +
        "{% elif message['role'] == 'assistant' %}{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}{% endif %}{% endfor %}" +
        "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}";

    private const string Llama3 =
        "{{- bos_token }}\n{%- if not date_string is defined %}\n    {%- set date_string = \"26 Jul 2024\" %}\n{%- endif %}\n" +
        "{%- if messages[0]['role'] == 'system' %}\n    {%- set system_message = messages[0]['content']|trim %}\n    {%- set messages = messages[1:] %}\n" +
        "{%- else %}\n    {%- set system_message = \"\" %}\n{%- endif %}\n" +
        "{{- \"<|start_header_id|>system<|end_header_id|>\\n\\n\" }}\n{{- \"Cutting Knowledge Date: December 2023\\n\" }}\n" +
        "{{- \"Today Date: \" + date_string + \"\\n\\n\" }}\n{{- system_message }}\n{{- \"<|eot_id|>\" }}\n" +
        "{%- for message in messages %}\n    {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}\n{%- endfor %}\n" +
        "{%- if add_generation_prompt %}\n    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}\n{%- endif %}\n";

    internal const string Qwen3 =
        "{%- if messages[0].role == 'system' %}\n    {{- '<|im_start|>system\\n' + messages[0].content + '<|im_end|>\\n' }}\n{%- endif %}\n" +
        "{%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) %}\n" +
        "{%- for message in messages[::-1] %}\n    {%- set index = (messages|length - 1) - loop.index0 %}\n" +
        "    {%- if ns.multi_step_tool and message.role == \"user\" and message.content is string and not(message.content.startswith('<tool_response>') and message.content.endswith('</tool_response>')) %}\n" +
        "        {%- set ns.multi_step_tool = false %}\n        {%- set ns.last_query_index = index %}\n    {%- endif %}\n{%- endfor %}\n" +
        "{%- for message in messages %}\n    {%- if message.content is string %}\n        {%- set content = message.content %}\n    {%- else %}\n        {%- set content = '' %}\n    {%- endif %}\n" +
        "    {%- if (message.role == \"user\") or (message.role == \"system\" and not loop.first) %}\n        {{- '<|im_start|>' + message.role + '\\n' + content + '<|im_end|>' + '\\n' }}\n" +
        "    {%- elif message.role == \"assistant\" %}\n        {%- set reasoning_content = '' %}\n        {%- if message.reasoning_content is string %}\n" +
        "            {%- set reasoning_content = message.reasoning_content %}\n        {%- else %}\n            {%- if '</think>' in content %}\n" +
        "                {%- set reasoning_content = content.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') %}\n" +
        "                {%- set content = content.split('</think>')[-1].lstrip('\\n') %}\n            {%- endif %}\n        {%- endif %}\n" +
        "        {%- if loop.index0 > ns.last_query_index %}\n            {%- if loop.last or (not loop.last and reasoning_content) %}\n" +
        "                {{- '<|im_start|>' + message.role + '\\n<think>\\n' + reasoning_content.strip('\\n') + '\\n</think>\\n\\n' + content.lstrip('\\n') }}\n" +
        "            {%- else %}\n                {{- '<|im_start|>' + message.role + '\\n' + content }}\n            {%- endif %}\n" +
        "        {%- else %}\n            {{- '<|im_start|>' + message.role + '\\n' + content }}\n        {%- endif %}\n        {{- '<|im_end|>\\n' }}\n    {%- endif %}\n{%- endfor %}\n" +
        "{%- if add_generation_prompt %}\n    {{- '<|im_start|>assistant\\n' }}\n    {%- if enable_thinking is defined and enable_thinking is false %}\n" +
        "        {{- '<think>\\n\\n</think>\\n\\n' }}\n    {%- endif %}\n{%- endif %}";

    public static TheoryData<string, string, string> Architectures => new()
    {
        { "gemma2", Gemma2, ChatTemplate.Gemma },
        { "gemma3", Gemma3, ChatTemplate.Gemma },
        { "phi3", Phi3, ChatTemplate.Phi3 },
        { "llama3", Llama3, ChatTemplate.Llama3 },
        { "qwen3", Qwen3, ChatTemplate.ChatMl },
    };

    private static readonly ChatMessage[][] Conversations =
    [
        [new("user", "hi")],
        [new("user", "What is 2+2?"), new("assistant", "4"), new("user", "And 3+3?")],
        [new("system", "Be brief."), new("user", "What is 2+2?"), new("assistant", "4"), new("user", "And 3+3?")],
    ];

    /// <summary>The template read from a model file renders as llama.cpp renders the same file's template.</summary>
    [Theory]
    [MemberData(nameof(Architectures))]
    public void TemplateFromTheFileMatchesLlamaCpp(string name, string template, string family)
    {
        string dir = TinyModels.TempDirectory();
        try
        {
            string path = TinyModels.Write(dir, GgmlType.Q8_0, seed: 3,
                extras: new TinyModels.Extras { Metadata = (w, _) => w.Add("tokenizer.chat_template", template) });
            ChatTemplate ours;
            using (GgufFile file = GgufFile.Open(path)) ours = ChatTemplate.FromGguf(file);
            Assert.Equal(family, ours.Family);
            using var weights = LLamaWeights.LoadFromFile(new ModelParams(path) { GpuLayerCount = 0 });
            // Gemma 2's template refuses a system message, so its conversations have none.
            foreach (ChatMessage[] conversation in Conversations.Where(c => name != "gemma2" || c[0].Role != "system"))
                foreach (bool addAssistant in new[] { true, false })
                {
                    // Qwen3's template adds a think block to an assistant turn after the last user message, which
                    // llama.cpp's built-in ChatML does not render: those cases are checked by hand below.
                    if (name == "qwen3" && !addAssistant && conversation[^1].Role == "assistant") continue;
                    var oracle = new LLamaTemplate(weights) { AddAssistant = addAssistant };
                    foreach (ChatMessage m in conversation) oracle.Add(m.Role, m.Content);
                    string expected = Encoding.UTF8.GetString(oracle.Apply());
                    Assert.Equal(expected, ours.Apply(conversation, addAssistant));
                }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>Each template's prompt for a conversation with a system message, written out from its Jinja text.</summary>
    [Theory]
    [InlineData("gemma3", "<start_of_turn>user\nBe brief.\n\nWhat is 2+2?<end_of_turn>\n<start_of_turn>model\n4<end_of_turn>\n<start_of_turn>user\nAnd 3+3?<end_of_turn>\n<start_of_turn>model\n")]
    [InlineData("phi3", "<|system|>\nBe brief.<|end|>\n<|user|>\nWhat is 2+2?<|end|>\n<|assistant|>\n4<|end|>\n<|user|>\nAnd 3+3?<|end|>\n<|assistant|>\n")]
    [InlineData("qwen3", "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>\n<|im_start|>user\nAnd 3+3?<|im_end|>\n<|im_start|>assistant\n")]
    public void PromptIsTheJinjaTemplates(string name, string expected)
    {
        string template = name switch { "gemma3" => Gemma3, "phi3" => Phi3, _ => Qwen3 };
        // The Jinja templates begin with the BOS token where the tokenizer does not add it; the engine's tokenizer adds it.
        Assert.Equal(expected, ChatTemplate.FromTemplateText(template).Apply(Conversations[2]));
    }

    /// <summary>
    /// Qwen3's thinking tags: earlier assistant turns keep only their answer; the turn after the last user message
    /// keeps its reasoning in a think block (an empty one when it has none), as the Jinja template above renders.
    /// </summary>
    [Fact]
    public void Qwen3DropsEarlierThinkingAndKeepsTheCurrentTurns()
    {
        ChatTemplate t = ChatTemplate.FromTemplateText(Qwen3);
        ChatMessage[] earlier = [new("user", "What is 2+2?"), new("assistant", "<think>\nAdd them.\n</think>\n\n4"), new("user", "And 3+3?")];
        Assert.Equal("<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>\n<|im_start|>user\nAnd 3+3?<|im_end|>\n<|im_start|>assistant\n",
            t.Apply(earlier));

        ChatMessage[] current = [.. earlier, new("assistant", "<think>\n\nSix.\n\n</think>\n\n6")];
        Assert.Equal("<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>\n<|im_start|>user\nAnd 3+3?<|im_end|>\n" +
            "<|im_start|>assistant\n<think>\nSix.\n</think>\n\n6<|im_end|>\n", t.Apply(current, addGenerationPrompt: false));

        ChatMessage[] plain = [.. earlier, new("assistant", "6")];
        Assert.EndsWith("<|im_start|>assistant\n<think>\n\n</think>\n\n6<|im_end|>\n", t.Apply(plain, addGenerationPrompt: false));

        // A template without thinking tags (the bundled SmolLM2's ChatML) keeps assistant text as written.
        Assert.Contains("<think>\nAdd them.\n</think>\n\n4", ChatTemplate.FromTemplateText("{{ '<|im_start|>' }}").Apply(earlier));
    }

    /// <summary>
    /// Qwen3's non-thinking mode (enable_thinking=false in its Jinja template, last lines above): the generation prompt
    /// ends with an empty think block; without the generation prompt, or on templates that do not read the variable,
    /// the option changes nothing.
    /// </summary>
    [Fact]
    public void Qwen3NonThinkingModeOpensTheReplyWithAnEmptyThinkBlock()
    {
        var noThinking = new ChatTemplateOptions { EnableThinking = false };
        ChatTemplate t = ChatTemplate.FromTemplateText(Qwen3);
        Assert.Equal("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>\n" +
            "<|im_start|>user\nAnd 3+3?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n", t.Apply(Conversations[2], options: noThinking));
        Assert.Equal(t.Apply(Conversations[2]) + "<think>\n\n</think>\n\n", t.Apply(Conversations[2], true, noThinking));
        Assert.Equal(t.Apply(Conversations[1], addGenerationPrompt: false), t.Apply(Conversations[1], addGenerationPrompt: false, noThinking));
        Assert.Equal(t.Apply(Conversations[2]), t.Apply(Conversations[2], options: ChatTemplateOptions.Default));

        foreach (string other in new[] { Gemma3, Phi3, Llama3, "{{ '<|im_start|>' }}" })
        {
            ChatTemplate o = ChatTemplate.FromTemplateText(other);
            Assert.Equal(o.Apply(Conversations[1]), o.Apply(Conversations[1], options: noThinking));
        }
    }
}
