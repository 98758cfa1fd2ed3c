using SelfSpec.Gguf;

namespace SelfSpec.Model.Architectures;

/// <summary>
/// llama (Llama 2/3, SmolLM, Mistral, TinyLlama): pre-norm blocks, adjacent-pair RoPE, SwiGLU, no biases.
/// Llama 3.1+ files carry rope_freqs.weight (llama3 rope scaling: a divisor per rotary pair's frequency).
/// </summary>
internal sealed class Llama : IArchitecture
{
    public string Name => "llama";

    public ModelConfig ReadConfig(GgufFile file) =>
        new MetadataReader(file, Name).Common(RopeLayout.Normal, new BlockRecipe { RopeFrequencyFactors = true });

    public LayerWeights ReadLayer(TensorReader tensors, int layer, ModelConfig config) => tensors.StandardLayer(layer, config);
}
