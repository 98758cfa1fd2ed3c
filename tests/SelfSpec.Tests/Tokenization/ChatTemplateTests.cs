using System.Text;
using LLama;
using SelfSpec.Gguf;
using SelfSpec.Tokenization;

namespace SelfSpec.Tests.Tokenization;

public sealed class ChatTemplateTests
{
    private const string SmolSystem =
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n";

    [Fact]
    public void Bundled_model_template_is_chatml_with_smollm_default_system_prompt()
    {
        using GgufFile file = GgufFile.Open(TestModels.Bundled);
        ChatTemplate t = ChatTemplate.FromGguf(file);
        Assert.Equal(ChatTemplate.ChatMl, t.Family);
        Assert.Equal(SmolSystem + "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n", t.Apply([new ChatMessage("user", "hi")]));
        Assert.Equal(SmolSystem + "<|im_start|>user\nhi<|im_end|>\n", t.Apply([new ChatMessage("user", "hi")], addGenerationPrompt: false));
    }

    [Fact]
    public void Own_system_message_replaces_the_default()
    {
        using GgufFile file = GgufFile.Open(TestModels.Bundled);
        ChatTemplate t = ChatTemplate.FromGguf(file);
        string prompt = t.Apply([new ChatMessage("system", "Be brief."), new ChatMessage("user", "hi")]);
        Assert.Equal("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n", prompt);
    }

    [Fact]
    public void Missing_or_unknown_template_falls_back_to_chatml_without_system_prompt()
    {
        Assert.Equal(ChatTemplate.ChatMl, ChatTemplate.FromTemplateText(null).Family);
        ChatTemplate t = ChatTemplate.FromTemplateText("{{ messages }}");
        Assert.Equal(ChatTemplate.ChatMl, t.Family);
        Assert.Null(t.DefaultSystemPrompt);
        Assert.Equal("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n", t.Apply([new ChatMessage("user", "hi")]));
    }

    // Abbreviated real templates: enough of each to carry the markers llama.cpp detects.
    public static TheoryData<string, string> Templates => new()
    {
        { "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}", ChatTemplate.ChatMl },
        { "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' }}", ChatTemplate.Llama3 },
        { "{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% if system %}<<SYS>>{% endif %}", ChatTemplate.Llama2SysStrip },
        { "{{ bos_token + '[INST] ' + content + ' [/INST]' }}<<SYS>>", ChatTemplate.Llama2SysBos },
        { "{{ '[INST] ' + content + ' [/INST]' }}<<SYS>>", ChatTemplate.Llama2Sys },
        { "{{ '[INST] ' + content + ' [/INST]' }}", ChatTemplate.Llama2 },
        { "{{ bos_token }}{% for m in messages %}{{ '[INST] ' + m['content'] + '[/INST]' }}{% endfor %}[AVAILABLE_TOOLS]", ChatTemplate.MistralV3 },
        { "{{ bos_token }}{{ '[SYSTEM_PROMPT]' + system + '[/SYSTEM_PROMPT]' }}{{ '[INST]' + m + '[/INST]' }}", ChatTemplate.MistralV7 },
        { "{% for message in messages %}{{ '<|' + message['role'] + '|>\n' + message['content'] + '<|endoftext|>' }}{% endfor %}<|user|>", ChatTemplate.Zephyr },
        { "{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}", ChatTemplate.Gemma },
        { "{{'<|' + message['role'] + '|>' + '\n' + message['content'] + '<|end|>\n'}}<|assistant|>", ChatTemplate.Phi3 },
    };

    [Theory]
    [MemberData(nameof(Templates))]
    public void Family_and_rendering_match_llama_cpp(string template, string family)
    {
        ChatTemplate ours = ChatTemplate.FromTemplateText(template);
        Assert.Equal(family, ours.Family);

        ChatMessage[][] conversations =
        [
            [new("user", "hi")],
            [new("system", " Be brief. "), new("user", "What is 2+2?\n"), new("assistant", " 4 "), new("user", "And 3+3?")],
            [new("user", "one"), new("assistant", "two"), new("user", "three"), new("assistant", "four")],
        ];
        foreach (ChatMessage[] conversation in conversations)
            foreach (bool addAssistant in new[] { true, false })
            {
                var oracle = new LLamaTemplate(template) { AddAssistant = addAssistant };
                foreach (ChatMessage m in conversation) oracle.Add(m.Role, m.Content);
                string expected = Encoding.UTF8.GetString(oracle.Apply());
                Assert.Equal(expected, ours.Apply(conversation, addAssistant));
            }
    }
}
