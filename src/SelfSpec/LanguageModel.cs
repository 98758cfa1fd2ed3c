using SelfSpec.Decoding;
using SelfSpec.Gguf;
using SelfSpec.Model;
using SelfSpec.Threading;
using SelfSpec.Tokenization;

namespace SelfSpec;

/// <summary>
/// A GGUF model ready to generate: the mapped file, its configuration, weights, tokenizer and chat template.
/// One generation runs at a time (calls are serialized); weights are shared and never copied.
/// </summary>
public sealed class LanguageModel : IDisposable
{
    /// <summary>Positions evaluated together during prefill (and the largest verification batch).</summary>
    public const int MaxBatch = 64;

    private readonly GgufFile _file;
    private readonly WorkerPool _pool;
    private readonly Transformer _transformer;
    private readonly Lock _gate = new();

    public string Path => _file.Path;
    public long FileSize => _file.FileSize;
    public ModelConfig Config { get; }
    public Tokenizer Tokenizer { get; }
    public ChatTemplate ChatTemplate { get; }
    public int Threads => _pool.ThreadCount;
    internal GgufFile File => _file;

    private LanguageModel(GgufFile file, int threads)
    {
        _file = file;
        Config = ModelConfig.FromGguf(file);
        var weights = ModelWeights.Load(file, Config);
        Tokenizer = Tokenizer.FromGguf(file);
        if (Tokenizer.VocabSize != Config.VocabSize)
            throw new GgufFormatException($"tokenizer has {Tokenizer.VocabSize} tokens but the model's head has {Config.VocabSize} rows");
        ChatTemplate = ChatTemplate.FromGguf(file);
        _pool = new WorkerPool(threads);
        _transformer = new Transformer(weights, _pool, MaxBatch, Config.ContextLength);
    }

    /// <summary>Opens a GGUF model. <paramref name="threads"/> 0 means one per processor core.</summary>
    /// <exception cref="GgufFormatException">the file is not a valid GGUF file</exception>
    /// <exception cref="UnsupportedModelException">the architecture, a tensor type or shape is not supported</exception>
    public static LanguageModel Load(string path, int threads = 0)
    {
        if (threads < 0 || threads > 256) throw new InvalidRequestException($"thread count {threads} must be between 0 (all cores) and 256");
        if (threads == 0) threads = Environment.ProcessorCount;
        var file = GgufFile.Open(path);
        try
        {
            return new LanguageModel(file, threads);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>Tokenizes raw prompt text: special tokens written in the text are parsed, BOS added when the model asks.</summary>
    public int[] Tokenize(string text) => Tokenizer.Encode(text, addSpecial: true, parseSpecial: true);

    /// <summary>Applies the model's chat template (with the generation prompt) and tokenizes the result.</summary>
    public int[] TokenizeChat(IReadOnlyList<ChatMessage> messages) =>
        Tokenizer.Encode(ChatTemplate.Apply(messages, addGenerationPrompt: true), addSpecial: true, parseSpecial: true);

    /// <summary>Generates a continuation of <paramref name="prompt"/>; <paramref name="onToken"/> sees each token as it is committed and may return false to stop.</summary>
    public GenerationResult Generate(int[] prompt, GenerationOptions options, Func<int, bool>? onToken = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(options);
        foreach (int t in prompt)
            if ((uint)t >= (uint)Config.VocabSize) throw new InvalidRequestException($"prompt token id {t} is outside the vocabulary (0..{Config.VocabSize - 1})");
        lock (_gate)
        {
            return options.Method == DecodingMethod.Autoregressive
                ? new Autoregressive(_transformer).Generate(prompt, options, Tokenizer.IsEndOfGeneration, onToken, cancellation)
                : new SelfSpeculative(_transformer).Generate(prompt, options, Tokenizer.IsEndOfGeneration, onToken, cancellation);
        }
    }

    public void Dispose()
    {
        _pool.Dispose();
        _file.Dispose();
    }
}
