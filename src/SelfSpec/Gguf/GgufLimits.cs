namespace SelfSpec.Gguf;

/// <summary>
/// Caps that keep a crafted file from exhausting memory or time before the length checks catch it.
/// Real models stay far below each (the largest arrays are vocabularies of a few hundred thousand entries).
/// </summary>
internal static class GgufLimits
{
    public const long MaxStringBytes = 64L << 20;        // chat templates are kilobytes; 64 MiB is generous
    // Keys and tensor names are short dotted paths (llama.cpp caps tensor names at 63 bytes). Without a cap of
    // their own, one flipped length byte turns the next key into megabytes of tensor data, decoded to UTF-16
    // and then copied into the error message.
    public const long MaxNameBytes = 4096;
    public const long MaxArrayElements = 1L << 26;       // 67M entries
    public const long MaxKeyValues = 1L << 20;
    public const long MaxTensors = 1L << 20;
    public const int MaxDimensions = 4;                  // GGML_MAX_DIMS
    public const int MaxArrayNesting = 8;
    public const long MaxTensorElements = 1L << 40;
    public const int MaxAlignment = 1 << 16;
    public const long MaxSplits = 1000;                  // files of one split model
}
