using SelfSpec.Gguf;

namespace SelfSpec.Tests.Tokenization;

/// <summary>
/// Writes a GGUF that llama.cpp can open vocabulary-only (llama hyperparameters, a tokenizer, no tensors), so any
/// tokenizer configuration can be checked against llama.cpp without a model of that kind.
/// </summary>
internal static class VocabOnlyGguf
{
    public static GgufWriter Llama(string model, string[] tokens) => new GgufWriter()
        .Add("general.architecture", "llama")
        .Add("general.name", "tokenizer-test")
        .Add("llama.context_length", 512u)
        .Add("llama.embedding_length", 64u)
        .Add("llama.block_count", 1u)
        .Add("llama.feed_forward_length", 128u)
        .Add("llama.attention.head_count", 4u)
        .Add("llama.attention.head_count_kv", 4u)
        .Add("llama.rope.dimension_count", 16u)
        .Add("llama.attention.layer_norm_rms_epsilon", 1e-5f)
        .Add("tokenizer.ggml.model", model)
        .Add("tokenizer.ggml.tokens", tokens);

    public static string TempPath(string name) =>
        Path.Combine(Path.GetTempPath(), $"selfspec-tok-{Environment.ProcessId}-{name}.gguf");
}
