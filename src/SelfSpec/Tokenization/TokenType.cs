namespace SelfSpec.Tokenization;

/// <summary>GGUF <c>tokenizer.ggml.token_type</c> values (llama.cpp's <c>llama_token_type</c>).</summary>
internal enum TokenType
{
    Undefined = 0,
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6,
}
