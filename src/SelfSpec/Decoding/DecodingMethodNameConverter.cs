using System.Text.Json;
using System.Text.Json.Serialization;

namespace SelfSpec.Decoding;

/// <summary>Writes and reads a <see cref="DecodingMethod"/> as its short name ("ar", "hybrid", ...).</summary>
internal sealed class DecodingMethodNameConverter : JsonConverter<DecodingMethod>
{
    public override DecodingMethod Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        DecodingMethodNames.Parse(reader.GetString() ?? "");

    public override void Write(Utf8JsonWriter writer, DecodingMethod value, JsonSerializerOptions options) =>
        writer.WriteStringValue(DecodingMethodNames.Name(value));
}
