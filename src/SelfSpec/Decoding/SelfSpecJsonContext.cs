using System.Text.Json.Serialization;

namespace SelfSpec.Decoding;

/// <summary>
/// The one JSON form of results and statistics (snake_case, source-generated): <c>selfspec generate --json</c>, the
/// benchmark's results and the server's <c>selfspec</c> object all serialize through it.
/// </summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = true)]
[JsonSerializable(typeof(GenerationResult))]
[JsonSerializable(typeof(DecodeStats))]
public sealed partial class SelfSpecJsonContext : JsonSerializerContext;
