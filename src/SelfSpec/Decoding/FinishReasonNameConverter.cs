using System.Text.Json;
using System.Text.Json.Serialization;

namespace SelfSpec.Decoding;

/// <summary>Writes a <see cref="FinishReason"/> as OpenAI-style text: stop, length, context_full, cancelled.</summary>
internal sealed class FinishReasonNameConverter : JsonConverter<FinishReason>
{
    public static string Name(FinishReason reason) => reason switch
    {
        FinishReason.EndOfGeneration or FinishReason.StopSequence => "stop",
        FinishReason.Length => "length",
        FinishReason.ContextFull => "context_full",
        _ => "cancelled",
    };

    public override FinishReason Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => reader.GetString() switch
    {
        "stop" => FinishReason.EndOfGeneration,
        "length" => FinishReason.Length,
        "context_full" => FinishReason.ContextFull,
        _ => FinishReason.Cancelled,
    };

    public override void Write(Utf8JsonWriter writer, FinishReason value, JsonSerializerOptions options) => writer.WriteStringValue(Name(value));
}
