using SelfSpec.Gguf;

namespace SelfSpec.Model.Architectures;

/// <summary>
/// One model architecture, as its GGUF files describe it: which metadata keys it reads (into a
/// <see cref="ModelConfig"/> carrying its <see cref="BlockRecipe"/>) and which tensors each layer has.
/// Registered by name in <see cref="ArchitectureRegistry"/>; adding one touches its own file and its tests.
/// </summary>
internal interface IArchitecture
{
    /// <summary>The value of general.architecture this class reads.</summary>
    string Name { get; }

    /// <summary>The normalized hyper-parameters and the block recipe, from the file's metadata.</summary>
    ModelConfig ReadConfig(GgufFile file);

    /// <summary>Layer <paramref name="layer"/>'s tensors (the config's recipe says which optional ones it uses).</summary>
    LayerWeights ReadLayer(TensorReader tensors, int layer, ModelConfig config);
}
