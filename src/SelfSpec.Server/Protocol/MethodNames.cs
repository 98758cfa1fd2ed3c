using SelfSpec.Decoding;

namespace SelfSpec.Server.Protocol;

/// <summary>The names of decoding methods in requests and responses: the command line's (<c>--method</c>).</summary>
internal static class MethodNames
{
    public static readonly string[] All = ["ar", "specbound", "hybrid", "static", "lookup"];

    public static DecodingMethod? TryParse(string name) => name switch
    {
        "ar" => DecodingMethod.Autoregressive,
        "specbound" => DecodingMethod.SpecBound,
        "hybrid" => DecodingMethod.Hybrid,
        "static" => DecodingMethod.Static,
        "lookup" => DecodingMethod.Lookup,
        _ => null,
    };

    public static string Name(DecodingMethod method) => All[(int)method];
}
