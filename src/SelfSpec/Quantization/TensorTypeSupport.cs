// TensorTypeSupport: the public view of the tensor-type table, for tools that judge a file before loading it
// (the CLI's inspect) without reaching into the engine's internals.
namespace SelfSpec.Quantization;

/// <summary>Which tensor types this engine runs, and ggml's names for them.</summary>
public static class TensorTypeSupport
{
    /// <summary>ggml's name for a type ("q4_K", "iq4_nl"), or "type(N)" for ids ggml does not define.</summary>
    public static string Name(GgmlType type) => GgmlTypeInfo.Name(type);

    /// <summary>True when a matrix of this type can be loaded and multiplied here.</summary>
    public static bool IsSupported(GgmlType type) => GgmlTypeInfo.IsSupportedWeight(type);

    /// <summary>Every type a weight matrix may have, in ggml id order.</summary>
    public static IReadOnlyList<GgmlType> Supported { get; } = [.. TensorTypes.Weights.Select(r => r.Type)];
}
