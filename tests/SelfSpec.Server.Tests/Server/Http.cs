using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace SelfSpec.Server.Tests.Server;

/// <summary>Small helpers for posting JSON and reading the server's answers.</summary>
internal static class Http
{
    public static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    public static Task<HttpResponseMessage> PostAsync(HttpClient client, string path, string json, string? key = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = Json(json) };
        if (key != null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
    }

    public static async Task<JsonElement> ReadJsonAsync(HttpResponseMessage response)
    {
        string text = await response.Content.ReadAsStringAsync();
        using var doc = JsonDocument.Parse(text);
        return doc.RootElement.Clone();
    }

    /// <summary>Checks OpenAI's error shape and returns the error object.</summary>
    public static async Task<JsonElement> ReadErrorAsync(HttpResponseMessage response, int status)
    {
        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var error = (await ReadJsonAsync(response)).GetProperty("error");
        Assert.Equal(JsonValueKind.String, error.GetProperty("message").ValueKind);
        Assert.False(string.IsNullOrEmpty(error.GetProperty("message").GetString()));
        Assert.Equal(JsonValueKind.String, error.GetProperty("type").ValueKind);
        Assert.True(error.TryGetProperty("param", out _));
        Assert.True(error.TryGetProperty("code", out _));
        return error;
    }

    /// <summary>Splits a server-sent-event body into its events' data, checking the framing on the way.</summary>
    public static string[] SseData(string body)
    {
        Assert.EndsWith("\n\n", body);
        var events = body[..^2].Split("\n\n");
        var data = new List<string>();
        foreach (string e in events)
        {
            Assert.DoesNotContain('\n', e);
            Assert.StartsWith("data: ", e);
            data.Add(e["data: ".Length..]);
        }
        return [.. data];
    }
}
