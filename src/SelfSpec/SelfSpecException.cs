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
}
