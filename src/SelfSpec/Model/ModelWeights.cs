using SelfSpec.Gguf;
using SelfSpec.Model.Architectures;

namespace SelfSpec.Model;

/// <summary>
/// All tensors of a model, bound to the memory-mapped file (matrices in place; only the small norm and
/// bias vectors are copied out, as float). Immutable: decoding state lives in <see cref="KvCache"/>.
/// </summary>
internal sealed class ModelWeights
{
    public required ModelConfig Config { get; init; }
    public required WeightMatrix TokenEmbedding { get; init; }   // (vocab rows of embd)
    public required LayerWeights[] Layers { get; init; }
    public required float[] OutputNorm { get; init; }            // (embd)
    /// <summary>The output head: its own tensor, or the token embedding when tied.</summary>
    public required WeightMatrix Output { get; init; }           // (embd -> vocab)
    public bool OutputTied { get; init; }
    /// <summary>Divisors of the rotary frequencies, one per rotary pair (rope_freqs.weight; LongRoPE's short factors), when the model has them.</summary>
    public float[]? RopeFrequencyFactors { get; init; }          // (ropeDim / 2)
    /// <summary>LongRoPE's factors for contexts past <see cref="Architectures.BlockRecipe.LongRopeFromContext"/>.</summary>
    public float[]? LongRopeFrequencyFactors { get; init; }      // (ropeDim / 2)

    /// <summary>Binds the file's tensors; <paramref name="pack"/> also repacks layer matrices whose type has a fast packed layout.</summary>
    public static ModelWeights Load(GgufFile file, ModelConfig config, bool pack = true)
    {
        var architecture = ArchitectureRegistry.Find(config.Architecture);
        var tensors = new TensorReader(file, pack);
        int embd = config.EmbeddingDim;
        var layers = new LayerWeights[config.LayerCount];
        for (int i = 0; i < layers.Length; i++) layers[i] = architecture.ReadLayer(tensors, i, config);
        var embedding = WeightMatrix.FromTensor(file, "token_embd.weight", embd, config.VocabSize);
        var (shortFactors, longFactors) = architecture.ReadRopeFactors(tensors, config);
        bool tied = config.Recipe.TiedOutput || !tensors.Has("output.weight");
        // The head is packed on its own; Embed reads the embedding's few rows a step from the file (WeightMatrix.ReadRow).
        var weights = new ModelWeights
        {
            Config = config,
            TokenEmbedding = embedding,
            Layers = layers,
            OutputNorm = tensors.Vector("output_norm.weight", embd),
            Output = tensors.Matrix(tied ? "token_embd.weight" : "output.weight", embd, config.VocabSize),
            OutputTied = tied,
            RopeFrequencyFactors = shortFactors,
            LongRopeFrequencyFactors = longFactors,
        };
        // The file bytes the packed copies were made from are garbage now; one compacting collection hands their
        // memory back to the system, so resident memory stays near the file's size (architecture.md, "memory").
        if (pack) GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        return weights;
    }

    /// <summary>Bytes held beside the mapped file by the packed copies.</summary>
    public long PackedBytes => Layers.Sum(l => l.Matrices.Sum(m => m.Packed?.ByteSize ?? 0)) + (Output.Packed?.ByteSize ?? 0);
}
