using System.Text.Json;
using SelfSpec.Decoding;
using SelfSpec.Sampling;
using SelfSpec.Tokenization;

namespace SelfSpec.Server.Protocol;

/// <summary>
/// Reads a completion request's JSON field by field, so that every refusal names the field (OpenAI's <c>param</c>).
/// Unknown fields are ignored, as OpenAI clients send many; fields asking for something this server cannot do
/// (n &gt; 1, tools, a response format, penalties it does not have) are refused rather than ignored.
/// </summary>
internal static class RequestParser
{
    private const int MaxStops = 16;

    public static CompletionRequest Parse(ReadOnlyMemory<byte> body, bool chat)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException e)
        {
            throw ApiException.BadRequest($"the request body is not valid JSON: {e.Message}", code: "invalid_json");
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw ApiException.BadRequest("the request body must be a JSON object", code: "invalid_json");
            return Read(root, chat);
        }
    }

    private static CompletionRequest Read(JsonElement root, bool chat)
    {
        Refuse(root);
        int? maxCompletion = PositiveInt(root, "max_completion_tokens");
        int? maxTokens = PositiveInt(root, "max_tokens");
        bool stream = Bool(root, "stream") ?? false;
        bool includeUsage = false;
        if (Field(root, "stream_options") is { } so)
        {
            if (so.ValueKind != JsonValueKind.Object) throw Type("stream_options", "an object");
            if (!stream) throw ApiException.BadRequest("stream_options is only allowed when stream is true", "stream_options");
            includeUsage = Bool(so, "include_usage", "stream_options.include_usage") ?? false;
        }
        var sampling = new SamplingOptions
        {
            Temperature = Range(root, "temperature", 0, 2) ?? 0f,
            TopP = Range(root, "top_p", 0, 1, lowOpen: true) ?? 1f,
            TopK = NonNegativeInt(root, "top_k") ?? 0,
            MinP = Range(root, "min_p", 0, 1) ?? 0f,
            RepetitionPenalty = Range(root, "repeat_penalty", 0, 10, lowOpen: true) ?? 1f,
            Seed = Long(root, "seed") is long seed ? unchecked((ulong)seed) : SamplingOptions.Greedy.Seed,
        };
        var (method, speculation) = SelfSpecObject(root);
        var templateOptions = chat ? TemplateOptions(root) : ChatTemplateOptions.Default;
        return new CompletionRequest
        {
            IsChat = chat,
            Model = String(root, "model"),
            Messages = chat ? Messages(root) : [],
            TemplateOptions = templateOptions,
            Prompt = chat ? null : PromptText(root),
            PromptTokens = chat ? null : PromptIds(root),
            MaxTokens = maxCompletion ?? maxTokens,
            MaxTokensField = maxCompletion != null ? "max_completion_tokens" : "max_tokens",
            Sampling = sampling,
            Stop = Stops(root),
            TopLogprobs = chat ? ChatLogprobs(root) : TopCount(root, "logprobs"),
            Stream = stream,
            IncludeUsage = includeUsage,
            Method = method,
            Speculation = speculation,
        };
    }

    /// <summary>Fields that ask for what this server does not do: refused, naming the field.</summary>
    private static void Refuse(JsonElement root)
    {
        if (Field(root, "n") is { } n && !(n.ValueKind == JsonValueKind.Number && n.TryGetInt32(out int count) && count == 1))
            throw ApiException.BadRequest("n must be 1: one choice per request is supported", "n", "unsupported_parameter");
        if (Field(root, "best_of") is { } b && !(b.ValueKind == JsonValueKind.Number && b.TryGetInt32(out int best) && best == 1))
            throw ApiException.BadRequest("best_of must be 1", "best_of", "unsupported_parameter");
        if (Field(root, "tools") is { } tools && !(tools.ValueKind == JsonValueKind.Array && tools.GetArrayLength() == 0))
            throw ApiException.BadRequest("tools are not supported by this server", "tools", "unsupported_parameter");
        if (Field(root, "functions") is { } functions && !(functions.ValueKind == JsonValueKind.Array && functions.GetArrayLength() == 0))
            throw ApiException.BadRequest("functions are not supported by this server", "functions", "unsupported_parameter");
        if (Field(root, "tool_choice") is { } choice && !(choice.ValueKind == JsonValueKind.String && choice.GetString() is "none" or "auto"))
            throw ApiException.BadRequest("tool_choice is not supported by this server", "tool_choice", "unsupported_parameter");
        if (Field(root, "response_format") is { } format)
        {
            if (format.ValueKind != JsonValueKind.Object) throw Type("response_format", "an object");
            string? type = String(format, "type", "response_format.type");
            if (type != "text") throw ApiException.BadRequest($"response_format '{type}' is not supported (only 'text' is)", "response_format", "unsupported_parameter");
        }
        if (Bool(root, "echo") == true) throw ApiException.BadRequest("echo is not supported by this server", "echo", "unsupported_parameter");
        if (String(root, "suffix") is { Length: > 0 }) throw ApiException.BadRequest("suffix is not supported by this server", "suffix", "unsupported_parameter");
        foreach (string penalty in new[] { "presence_penalty", "frequency_penalty" })
            if (Range(root, penalty, -2, 2) is float p && p != 0)
                throw ApiException.BadRequest($"{penalty} is not supported by this server (repeat_penalty is)", penalty, "unsupported_parameter");
    }

    /// <summary>
    /// Chat: <c>chat_template_kwargs</c>, the extra variables of the model's chat template (as llama.cpp's server and
    /// vLLM take them): <c>enable_thinking</c> (Qwen3) is read; other keys change nothing, as a template that does not
    /// read a variable renders the same.
    /// </summary>
    private static ChatTemplateOptions TemplateOptions(JsonElement root)
    {
        if (Field(root, "chat_template_kwargs") is not { } kwargs) return ChatTemplateOptions.Default;
        if (kwargs.ValueKind != JsonValueKind.Object) throw Type("chat_template_kwargs", "an object");
        return new ChatTemplateOptions { EnableThinking = Bool(kwargs, "enable_thinking", "chat_template_kwargs.enable_thinking") ?? true };
    }

    /// <summary>Chat: <c>logprobs: true</c> asks for them, <c>top_logprobs</c> (which needs it) for alternatives.</summary>
    private static int? ChatLogprobs(JsonElement root)
    {
        bool logprobs = Bool(root, "logprobs") ?? false;
        int? top = TopCount(root, "top_logprobs");
        if (top != null && !logprobs) throw ApiException.BadRequest("top_logprobs requires logprobs to be true", "top_logprobs");
        return logprobs ? top ?? 0 : null;
    }

    private static int? TopCount(JsonElement root, string name) => Int(root, name) switch
    {
        null => null,
        int k when k < 0 || k > GenerationOptions.MaxTopLogprobs =>
            throw ApiException.BadRequest($"{name} {k} must be between 0 and {GenerationOptions.MaxTopLogprobs}", name, "out_of_range"),
        int k => k,
    };

    private static List<ChatMessage> Messages(JsonElement root)
    {
        var messages = Field(root, "messages") ?? throw ApiException.BadRequest("messages is required", "messages", "missing_required_parameter");
        if (messages.ValueKind != JsonValueKind.Array) throw Type("messages", "an array");
        if (messages.GetArrayLength() == 0) throw ApiException.BadRequest("messages must not be empty", "messages");
        var list = new List<ChatMessage>();
        int i = 0;
        foreach (var m in messages.EnumerateArray())
        {
            string at = $"messages[{i++}]";
            if (m.ValueKind != JsonValueKind.Object) throw Type(at, "an object");
            string role = String(m, "role", $"{at}.role") ?? throw ApiException.BadRequest($"{at}.role is required", $"{at}.role", "missing_required_parameter");
            role = role switch
            {
                "system" or "developer" => "system",
                "user" or "assistant" => role,
                _ => throw ApiException.BadRequest($"{at}.role '{role}' is not supported (system, developer, user and assistant are)", $"{at}.role"),
            };
            list.Add(new ChatMessage(role, Content(m, at)));
        }
        return list;
    }

    private static string Content(JsonElement message, string at)
    {
        string param = $"{at}.content";
        var content = Field(message, "content") ?? throw ApiException.BadRequest($"{param} is required", param, "missing_required_parameter");
        if (content.ValueKind == JsonValueKind.String) return content.GetString()!;
        if (content.ValueKind != JsonValueKind.Array) throw Type(param, "a string or an array of text parts");
        var text = new System.Text.StringBuilder();
        int j = 0;
        foreach (var part in content.EnumerateArray())
        {
            string p = $"{param}[{j++}]";
            if (part.ValueKind != JsonValueKind.Object) throw Type(p, "an object");
            string? type = String(part, "type", $"{p}.type");
            if (type != "text") throw ApiException.BadRequest($"{p}.type '{type}' is not supported (only text parts are)", $"{p}.type", "unsupported_content");
            text.Append(String(part, "text", $"{p}.text") ?? throw ApiException.BadRequest($"{p}.text is required", $"{p}.text", "missing_required_parameter"));
        }
        return text.ToString();
    }

    private static string? PromptText(JsonElement root)
    {
        var prompt = Field(root, "prompt") ?? throw ApiException.BadRequest("prompt is required", "prompt", "missing_required_parameter");
        if (prompt.ValueKind == JsonValueKind.String) return prompt.GetString();
        if (prompt.ValueKind == JsonValueKind.Array && prompt.GetArrayLength() == 1 && prompt[0].ValueKind == JsonValueKind.String) return prompt[0].GetString();
        if (prompt.ValueKind == JsonValueKind.Array && prompt.EnumerateArray().All(e => e.ValueKind == JsonValueKind.Number)) return null;
        throw ApiException.BadRequest("prompt must be a string, an array of one string, or an array of token ids (one prompt per request)", "prompt");
    }

    private static int[]? PromptIds(JsonElement root)
    {
        var prompt = root.GetProperty("prompt");
        if (prompt.ValueKind != JsonValueKind.Array || (prompt.GetArrayLength() > 0 && prompt[0].ValueKind == JsonValueKind.String)) return null;
        var ids = new int[prompt.GetArrayLength()];
        int i = 0;
        foreach (var e in prompt.EnumerateArray())
            ids[i++] = e.TryGetInt32(out int id) && id >= 0 ? id : throw ApiException.BadRequest($"prompt[{i - 1}] is not a token id", "prompt");
        if (ids.Length == 0) throw ApiException.BadRequest("prompt must not be empty", "prompt");
        return ids;
    }

    private static List<string> Stops(JsonElement root)
    {
        var stop = Field(root, "stop");
        if (stop is not { } s) return [];
        List<string> list = [];
        if (s.ValueKind == JsonValueKind.String) list.Add(s.GetString()!);
        else if (s.ValueKind == JsonValueKind.Array)
        {
            foreach (var e in s.EnumerateArray())
                list.Add(e.ValueKind == JsonValueKind.String ? e.GetString()! : throw Type("stop", "a string or an array of strings"));
        }
        else throw Type("stop", "a string or an array of strings");
        if (list.Count > MaxStops) throw ApiException.BadRequest($"stop has {list.Count} sequences; at most {MaxStops} are allowed", "stop");
        if (list.Any(string.IsNullOrEmpty)) throw ApiException.BadRequest("a stop sequence must not be empty", "stop");
        return list;
    }

    private static (SelfSpec.Decoding.DecodingMethod?, SpeculationOverrides) SelfSpecObject(JsonElement root)
    {
        if (Field(root, "selfspec") is not { } s) return (null, new SpeculationOverrides());
        if (s.ValueKind != JsonValueKind.Object) throw Type("selfspec", "an object");
        string[] known = ["method", "w_max", "alpha", "tau", "d_max", "exit_layers", "static_layer", "static_length", "price_bound"];
        foreach (var p in s.EnumerateObject())
            if (!known.Contains(p.Name))
                throw ApiException.BadRequest($"selfspec.{p.Name} is not a known setting ({string.Join(", ", known)})", $"selfspec.{p.Name}");
        DecodingMethod? method = null;
        if (String(s, "method", "selfspec.method") is string name)
            method = DecodingMethodNames.All.Contains(name) ? DecodingMethodNames.Parse(name)
                : throw ApiException.BadRequest($"selfspec.method '{name}' is not one of: {string.Join(", ", DecodingMethodNames.All)}", "selfspec.method");
        int[]? layers = null;
        if (Field(s, "exit_layers") is { } el)
        {
            if (el.ValueKind != JsonValueKind.Array) throw Type("selfspec.exit_layers", "an array of layer numbers");
            layers = el.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out int l) && l >= 1 ? l
                : throw ApiException.BadRequest("selfspec.exit_layers must hold layer numbers of at least 1", "selfspec.exit_layers")).ToArray();
        }
        return (method, new SpeculationOverrides
        {
            MaxDrafts = Int(s, "w_max", "selfspec.w_max"),
            Alpha = Number(s, "alpha", "selfspec.alpha"),
            Tau = Number(s, "tau", "selfspec.tau"),
            MaxDepth = Int(s, "d_max", "selfspec.d_max"),
            ExitLayers = layers,
            StaticExitLayer = Int(s, "static_layer", "selfspec.static_layer"),
            StaticDraftLength = Int(s, "static_length", "selfspec.static_length"),
            PriceBound = Bool(s, "price_bound", "selfspec.price_bound"),
        });
    }

    // Field readers: absent and null mean "not given"; a value of the wrong type is a 400 naming the field.

    private static JsonElement? Field(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var e) && e.ValueKind != JsonValueKind.Null ? e : null;

    private static ApiException Type(string param, string expected) => ApiException.BadRequest($"{param} must be {expected}", param, "invalid_type");

    private static string? String(JsonElement obj, string name, string? param = null) => Field(obj, name) switch
    {
        null => null,
        { ValueKind: JsonValueKind.String } e => e.GetString(),
        _ => throw Type(param ?? name, "a string"),
    };

    private static bool? Bool(JsonElement obj, string name, string? param = null) => Field(obj, name) switch
    {
        null => null,
        { ValueKind: JsonValueKind.True } => true,
        { ValueKind: JsonValueKind.False } => false,
        _ => throw Type(param ?? name, "a boolean"),
    };

    private static float? Number(JsonElement obj, string name, string? param = null) => Field(obj, name) switch
    {
        null => null,
        { ValueKind: JsonValueKind.Number } e when double.IsFinite(e.GetDouble()) => (float)e.GetDouble(),
        _ => throw Type(param ?? name, "a number"),
    };

    private static long? Long(JsonElement obj, string name, string? param = null) => Field(obj, name) switch
    {
        null => null,
        { ValueKind: JsonValueKind.Number } e when e.TryGetInt64(out long v) => v,
        _ => throw Type(param ?? name, "an integer"),
    };

    private static int? Int(JsonElement obj, string name, string? param = null) => Field(obj, name) switch
    {
        null => null,
        { ValueKind: JsonValueKind.Number } e when e.TryGetInt32(out int v) => v,
        { ValueKind: JsonValueKind.Number } e when e.TryGetInt64(out _) => throw ApiException.BadRequest($"{param ?? name} is out of range", param ?? name, "out_of_range"),
        _ => throw Type(param ?? name, "an integer"),
    };

    private static int? PositiveInt(JsonElement obj, string name) =>
        Int(obj, name) is int v && v < 1 ? throw ApiException.BadRequest($"{name} {v} must be at least 1", name, "out_of_range") : Int(obj, name);

    private static int? NonNegativeInt(JsonElement obj, string name) =>
        Int(obj, name) is int v && v < 0 ? throw ApiException.BadRequest($"{name} {v} must not be negative", name, "out_of_range") : Int(obj, name);

    private static float? Range(JsonElement obj, string name, float low, float high, bool lowOpen = false)
    {
        if (Number(obj, name) is not float v) return null;
        bool ok = (lowOpen ? v > low : v >= low) && v <= high;
        return ok ? v : throw ApiException.BadRequest($"{name} {v} must be in {(lowOpen ? "(" : "[")}{low}, {high}]", name, "out_of_range");
    }
}
