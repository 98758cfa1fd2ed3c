using SelfSpec.Gguf;

namespace SelfSpec.Model.Architectures;

/// <summary>
/// qwen3: llama's blocks with a per-head RMSNorm of Q and K before RoPE (attn_q_norm, attn_k_norm), NeoX RoPE,
/// no biases, and a head size of its own (attention.key_length: Qwen3-0.6B has 16 heads of 128 at width 1024).
/// </summary>
internal sealed class Qwen3 : IArchitecture
{
    public string Name => "qwen3";

    public ModelConfig ReadConfig(GgufFile file) =>
        new MetadataReader(file, Name).Common(RopeLayout.NeoX, new BlockRecipe { QueryKeyNorm = true });

    public LayerWeights ReadLayer(TensorReader tensors, int layer, ModelConfig config) => tensors.StandardLayer(layer, config);
}
