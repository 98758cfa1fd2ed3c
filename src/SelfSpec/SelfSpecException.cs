namespace SelfSpec;

/// <summary>Base of every error SelfSpec raises on bad input: the message names the problem.</summary>
public class SelfSpecException : Exception
{
    public SelfSpecException(string message) : base(message) { }
    public SelfSpecException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>A GGUF file is truncated, corrupt or exceeds a safety limit.</summary>
public sealed class GgufFormatException : SelfSpecException
{
    public GgufFormatException(string message) : base(message) { }
    public GgufFormatException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>A well-formed model uses something this engine does not run (architecture, tensor type, shape).</summary>
public sealed class UnsupportedModelException : SelfSpecException
{
    public UnsupportedModelException(string message) : base(message) { }
}

/// <summary>A request that cannot be served as asked: prompt longer than the context, bad sampling options.</summary>
public sealed class InvalidRequestException : SelfSpecException
{
    public InvalidRequestException(string message) : base(message) { }

    /// <param name="message">what is wrong</param>
    /// <param name="param">the request input it is about (<see cref="GenerationRequest"/>'s names: messages, prompt, max_tokens, options)</param>
    /// <param name="code">a stable name for the kind of problem (context_length_exceeded), or null</param>
    public InvalidRequestException(string message, string? param, string? code = null) : base(message)
    {
        Param = param;
        Code = code;
    }

    /// <summary>The request input the problem is about, when known.</summary>
    public string? Param { get; }

    /// <summary>A stable name for the kind of problem, when there is one.</summary>
    public string? Code { get; }
}
