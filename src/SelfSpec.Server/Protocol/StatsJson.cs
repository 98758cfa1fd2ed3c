using System.Text.Json;
using SelfSpec.Decoding;

namespace SelfSpec.Server.Protocol;

/// <summary>The decode statistics in a response: <c>usage</c>, llama.cpp-style <c>timings</c> and the <c>selfspec</c> object.</summary>
internal static class StatsJson
{
    public static void WriteUsage(Utf8JsonWriter w, DecodeStats s)
    {
        w.WriteStartObject("usage");
        w.WriteNumber("prompt_tokens", s.PromptTokens);
        w.WriteNumber("completion_tokens", s.GeneratedTokens);
        w.WriteNumber("total_tokens", s.PromptTokens + s.GeneratedTokens);
        w.WriteStartObject("prompt_tokens_details");
        w.WriteNumber("cached_tokens", s.CachedPromptTokens);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    /// <summary>llama.cpp's server fields: prompt_n counts prompt tokens computed (cache_n those reused).</summary>
    public static void WriteTimings(Utf8JsonWriter w, DecodeStats s)
    {
        double promptMs = s.PrefillSeconds * 1000, predictedMs = s.DecodeSeconds * 1000;
        w.WriteStartObject("timings");
        w.WriteNumber("cache_n", s.CachedPromptTokens);
        w.WriteNumber("prompt_n", s.PrefillTokens);
        w.WriteNumber("prompt_ms", Round(promptMs));
        w.WriteNumber("prompt_per_token_ms", s.PrefillTokens > 0 ? Round(promptMs / s.PrefillTokens) : 0);
        w.WriteNumber("prompt_per_second", Round(s.PrefillTokensPerSecond));
        w.WriteNumber("predicted_n", s.GeneratedTokens);
        w.WriteNumber("predicted_ms", Round(predictedMs));
        w.WriteNumber("predicted_per_token_ms", s.GeneratedTokens > 1 ? Round(predictedMs / (s.GeneratedTokens - 1)) : 0);
        w.WriteNumber("predicted_per_second", Round(s.DecodeTokensPerSecond));
        w.WriteNumber("draft_n", s.Drafted);
        w.WriteNumber("draft_n_accepted", s.Accepted);
        w.WriteEndObject();
    }

    /// <summary>The same statistics as <c>selfspec generate --json</c> prints, through the library's one JSON form.</summary>
    public static void WriteSelfSpec(Utf8JsonWriter w, DecodeStats s)
    {
        w.WritePropertyName("selfspec");
        JsonSerializer.Serialize(w, s, SelfSpecJsonContext.Default.DecodeStats);
    }

    private static double Round(double v) => Math.Round(v, 3);
}
