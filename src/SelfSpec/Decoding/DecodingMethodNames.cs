namespace SelfSpec.Decoding;

/// <summary>The short names of decoding methods used by the command line, the benchmark, JSON and HTTP requests.</summary>
public static class DecodingMethodNames
{
    /// <summary>Every name, in <see cref="DecodingMethod"/> order.</summary>
    public static IReadOnlyList<string> All { get; } = ["ar", "specbound", "hybrid", "static", "lookup"];

    /// <exception cref="InvalidRequestException">the name is not a method's</exception>
    public static DecodingMethod Parse(string name) => name switch
    {
        "ar" => DecodingMethod.Autoregressive,
        "specbound" => DecodingMethod.SpecBound,
        "hybrid" => DecodingMethod.Hybrid,
        "static" => DecodingMethod.Static,
        "lookup" => DecodingMethod.Lookup,
        _ => throw new InvalidRequestException($"unknown method '{name}' (expected one of: {string.Join(", ", All)})"),
    };

    /// <summary>The method's short name.</summary>
    public static string Name(DecodingMethod method) => All[(int)method];
}
