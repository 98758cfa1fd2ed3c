using SelfSpec.Decoding;

namespace SelfSpec.Server.Generation;

/// <summary>One generation the HTTP layer asks for: the prompt's token ids and the options, already checked against the model.</summary>
public sealed record GenerationJob(int[] Prompt, GenerationOptions Options);
