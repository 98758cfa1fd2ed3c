using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using SelfSpec.Decoding;

namespace SelfSpec.Server.Hosting;

/// <summary>
/// Counters behind GET /metrics, rendered as Prometheus text. Speculation counters follow llama.cpp's server names
/// (<c>llamacpp:</c> there, <c>selfspec:</c> here) so dashboards built for one read the other.
/// </summary>
public sealed class ServerMetrics
{
    private readonly ConcurrentDictionary<(string Route, int Status), long> _requests = new();
    private readonly Lock _lock = new();
    private long _promptTokens, _prefillTokens, _cachedTokens, _generatedTokens, _rounds, _drafted, _accepted, _generations;
    private double _prefillSeconds, _decodeSeconds, _lastDecodeTokensPerSecond;

    public void CountRequest(string route, int status) => _requests.AddOrUpdate((route, status), 1, (_, n) => n + 1);

    public void CountGeneration(DecodeStats s)
    {
        lock (_lock)
        {
            _generations++;
            _promptTokens += s.PromptTokens;
            _prefillTokens += s.PrefillTokens;
            _cachedTokens += s.CachedPromptTokens;
            _generatedTokens += s.GeneratedTokens;
            _rounds += s.Rounds;
            _drafted += s.Drafted;
            _accepted += s.Accepted;
            _prefillSeconds += s.PrefillSeconds;
            _decodeSeconds += s.DecodeSeconds;
            if (s.DecodeSeconds > 0) _lastDecodeTokensPerSecond = s.DecodeTokensPerSecond;
        }
    }

    public string Render(int waiting, int running, bool ready)
    {
        var sb = new StringBuilder();
        void Metric(string name, string type, string help, double value)
        {
            sb.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n');
            sb.Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');
            sb.Append(name).Append(' ').Append(value.ToString("R", CultureInfo.InvariantCulture)).Append('\n');
        }
        sb.Append("# HELP selfspec:http_requests_total HTTP requests answered, by route and status.\n");
        sb.Append("# TYPE selfspec:http_requests_total counter\n");
        foreach (var ((route, status), n) in _requests.OrderBy(p => p.Key.Route, StringComparer.Ordinal).ThenBy(p => p.Key.Status))
            sb.Append(CultureInfo.InvariantCulture, $"selfspec:http_requests_total{{route=\"{Escape(route)}\",status=\"{status}\"}} {n}\n");
        lock (_lock)
        {
            Metric("selfspec:model_ready", "gauge", "1 once the model is loaded.", ready ? 1 : 0);
            Metric("selfspec:requests_processing", "gauge", "Generations running now.", running);
            Metric("selfspec:requests_deferred", "gauge", "Generations waiting in the queue.", waiting);
            Metric("selfspec:generations_total", "counter", "Generations finished (cancelled ones included).", _generations);
            Metric("selfspec:prompt_tokens_total", "counter", "Prompt tokens of all generations, cached ones included.", _promptTokens);
            Metric("selfspec:prompt_tokens_cached_total", "counter", "Prompt tokens reused from a session's cache.", _cachedTokens);
            Metric("selfspec:prompt_seconds_total", "counter", "Prefill time.", _prefillSeconds);
            Metric("selfspec:tokens_predicted_total", "counter", "Generated tokens.", _generatedTokens);
            Metric("selfspec:tokens_predicted_seconds_total", "counter", "Decode time.", _decodeSeconds);
            Metric("selfspec:prompt_tokens_seconds", "gauge", "Prefill tokens per second over all generations.", _prefillSeconds > 0 ? _prefillTokens / _prefillSeconds : 0);
            Metric("selfspec:predicted_tokens_seconds", "gauge", "Decode tokens per second of the latest generation.", _lastDecodeTokensPerSecond);
            Metric("selfspec:n_decode_total", "counter", "Verification passes (decode rounds).", _rounds);
            Metric("selfspec:n_draft_total", "counter", "Draft tokens proposed.", _drafted);
            Metric("selfspec:n_draft_accepted_total", "counter", "Draft tokens accepted by verification.", _accepted);
        }
        return sb.ToString();
    }

    private static string Escape(string s) => s.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n");
}
