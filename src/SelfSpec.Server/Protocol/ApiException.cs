namespace SelfSpec.Server.Protocol;

/// <summary>A request the server refuses, carrying everything OpenAI's error shape needs.</summary>
public sealed class ApiException : Exception
{
    public ApiException(int status, string message, string type = "invalid_request_error", string? param = null, string? code = null)
        : base(message)
    {
        Status = status;
        Type = type;
        Param = param;
        Code = code;
    }

    public int Status { get; }
    public string Type { get; }
    public string? Param { get; }
    public string? Code { get; }
    /// <summary>Seconds a client should wait before trying again (429 only).</summary>
    public int? RetryAfterSeconds { get; init; }

    public static ApiException BadRequest(string message, string? param = null, string? code = null) => new(400, message, param: param, code: code);
}
