using SelfSpec.Gguf;

namespace SelfSpec.Model.Architectures;

/// <summary>qwen2 (Qwen2, Qwen2.5): llama's blocks with Q, K, V biases and NeoX (half-split) RoPE.</summary>
internal sealed class Qwen2 : IArchitecture
{
    public string Name => "qwen2";

    public ModelConfig ReadConfig(GgufFile file) =>
        new MetadataReader(file, Name).Common(RopeLayout.NeoX, new BlockRecipe { QkvBiases = true });

    public LayerWeights ReadLayer(TensorReader tensors, int layer, ModelConfig config) => tensors.StandardLayer(layer, config);
}
