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

    /// <summary>
    /// Divisors of the rotary frequencies, one per rotary pair: for contexts up to the recipe's
    /// <see cref="BlockRecipe.LongRopeFromContext"/> (or always), and beyond it; null where the model has none.
    /// By default llama3's rope_freqs.weight when the recipe reads it.
    /// </summary>
    (float[]? Short, float[]? Long) ReadRopeFactors(TensorReader tensors, ModelConfig config) =>
        (config.Recipe.RopeFrequencyFactors ? tensors.OptionalVector("rope_freqs.weight", config.RopeDim / 2) : null, null);
}
