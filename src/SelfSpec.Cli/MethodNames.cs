using SelfSpec.Decoding;

namespace SelfSpec.Cli;

/// <summary>The command-line names of decoding methods (DESIGN 6).</summary>
internal static class MethodNames
{
    public static readonly string[] All = ["ar", "specbound", "hybrid", "static", "lookup"];

    public static DecodingMethod Parse(string name) => name switch
    {
        "ar" => DecodingMethod.Autoregressive,
        "specbound" => DecodingMethod.SpecBound,
        "hybrid" => DecodingMethod.Hybrid,
        "static" => DecodingMethod.Static,
        "lookup" => DecodingMethod.Lookup,
        _ => throw new InvalidRequestException($"unknown method '{name}' (expected one of: {string.Join(", ", All)})"),
    };

    public static string Name(DecodingMethod method) => All[(int)method];
}
