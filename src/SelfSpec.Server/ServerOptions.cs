using SelfSpec.Decoding;

namespace SelfSpec.Server;

/// <summary>How <c>selfspec serve</c> runs: the model, where it listens, who may call it and how much it accepts.</summary>
public sealed record ServerOptions
{
    /// <summary>The GGUF file to load (resolved by <see cref="ModelLocator"/> when null).</summary>
    public string? ModelPath { get; init; }
    /// <summary>Another name clients may give as <c>model</c>; the model file's name always works.</summary>
    public string? Alias { get; init; }
    public string Host { get; init; } = "127.0.0.1";
    public int Port { get; init; } = 8080;
    /// <summary>Bearer key every route but /health, /v1/models and the chat page requires; null = open.</summary>
    public string? ApiKey { get; init; }
    /// <summary>Largest prompt + output in tokens; 0 = the model's own context length.</summary>
    public int ContextLength { get; init; }
    /// <summary>Requests that may wait while the running ones run; one more is answered 429.</summary>
    public int MaxQueue { get; init; } = 16;
    /// <summary>
    /// Requests decoded together, their rows sharing every forward pass (continuous batching); 0 = one at a time.
    /// Applies to the model the server loads; a model handed in already loaded batches as it was loaded.
    /// </summary>
    public int Parallel { get; init; } = 4;
    /// <summary>Megabytes of keys and values kept across conversations for prompts that share a beginning (least recently used out first); 0 = off.</summary>
    public int CacheMegabytes { get; init; }
    /// <summary>Worker threads of the forward pass; 0 = one per core.</summary>
    public int Threads { get; init; }
    /// <summary>Largest request body in bytes; a larger one is answered 413.</summary>
    public long MaxBodyBytes { get; init; } = 4 << 20;
    /// <summary>Sessions (KV caches) kept for conversations to continue in; the least recently used goes first.</summary>
    public int MaxSessions { get; init; } = 4;
    /// <summary>The decoding method when a request names none (the command line's default).</summary>
    public DecodingMethod DefaultMethod { get; init; } = DecodingMethod.Hybrid;
    /// <summary>The calibration sidecar choice, as the other commands take it.</summary>
    public ModelLoadOptions? LoadOptions { get; init; }

    /// <summary>Throws <see cref="InvalidRequestException"/> naming the first bad setting.</summary>
    public void Validate()
    {
        if (Port is < 0 or > 65535) throw new InvalidRequestException($"port {Port} must be between 0 and 65535");
        if (ContextLength < 0) throw new InvalidRequestException($"context length {ContextLength} must be 0 (the model's) or positive");
        if (MaxQueue < 0) throw new InvalidRequestException($"max queue {MaxQueue} must not be negative");
        if (Threads is < 0 or > 256) throw new InvalidRequestException($"thread count {Threads} must be between 0 (all cores) and 256");
        if (Parallel is < 0 or > LanguageModel.MaxBatch) throw new InvalidRequestException($"parallel requests {Parallel} must be between 0 (one at a time) and {LanguageModel.MaxBatch}");
        if (CacheMegabytes < 0) throw new InvalidRequestException($"prompt cache size {CacheMegabytes} MB must not be negative");
        if (MaxSessions < 1) throw new InvalidRequestException($"max sessions {MaxSessions} must be at least 1");
        if (MaxBodyBytes < 1024) throw new InvalidRequestException($"max body size {MaxBodyBytes} must be at least 1024 bytes");
        if (ApiKey is { Length: 0 }) throw new InvalidRequestException("the API key must not be empty");
    }
}
