using SelfSpec.Gguf;

namespace SelfSpec.Model.Architectures;

/// <summary>
/// smollm3 (SmolLM3): llama's blocks, except that every fourth layer (layers 3, 7, 11, ...: (l + 1) divisible
/// by 4) attends without RoPE, as llama.cpp runs it.
/// </summary>
internal sealed class SmolLm3 : IArchitecture
{
    public string Name => "smollm3";

    public ModelConfig ReadConfig(GgufFile file) =>
        new MetadataReader(file, Name).Common(RopeLayout.Normal, new BlockRecipe { NoRopeEvery = 4 });

    public LayerWeights ReadLayer(TensorReader tensors, int layer, ModelConfig config) => tensors.StandardLayer(layer, config);
}
