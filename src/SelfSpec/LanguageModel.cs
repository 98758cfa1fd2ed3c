using SelfSpec.Calibration;
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
    private readonly DecodeCosts _costs; // timed forward and head costs by batch size, for the price bound

    public string Path => _file.Path;
    public long FileSize => _file.FileSize;
    public ModelConfig Config { get; }
    public Tokenizer Tokenizer { get; }
    public ChatTemplate ChatTemplate { get; }
    public int Threads => _pool.ThreadCount;
    /// <summary>The calibration sidecar in use (<c>MODEL.gguf.selfspec</c> or the one asked for), or null.</summary>
    public string? SidecarPath { get; private set; }
    /// <summary>Why a sidecar that was found or asked for was refused (decoding then uses the defaults), or null.</summary>
    public string? SidecarWarning { get; private set; }
    /// <summary>The speculation settings used when a request gives none: the sidecar's measured ones, else <see cref="SpeculationOptions.Default"/>.</summary>
    public SpeculationOptions SpeculationDefaults { get; private set; } = SpeculationOptions.Default;
    internal CalibratedExitHead? ExitHead { get; private set; }
    internal ExitPriors? ExitPriors { get; private set; }
    internal GgufFile File => _file;
    internal Transformer Transformer => _transformer;
    /// <summary>The price bound's cost table, shared by this model's generations (tests fix it).</summary>
    internal DecodeCosts Costs => _costs;

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
        _costs = new DecodeCosts(MaxBatch);
    }

    /// <summary>Sidecar argument of <see cref="Load"/>: do not load any calibration sidecar.</summary>
    public const string NoSidecar = "none";

    /// <summary>
    /// Opens a GGUF model. <paramref name="threads"/> 0 means one per processor core. <paramref name="sidecar"/>: null
    /// loads <c>PATH.selfspec</c> when it exists; <see cref="NoSidecar"/> loads none; otherwise the sidecar at that path.
    /// A sidecar for another model or a corrupt one is refused: <see cref="SidecarWarning"/> says why, and the
    /// defaults are used.
    /// </summary>
    /// <exception cref="GgufFormatException">the file is not a valid GGUF file</exception>
    /// <exception cref="UnsupportedModelException">the architecture, a tensor type or shape is not supported</exception>
    public static LanguageModel Load(string path, int threads = 0, string? sidecar = null)
    {
        if (threads < 0 || threads > 256) throw new InvalidRequestException($"thread count {threads} must be between 0 (all cores) and 256");
        if (threads == 0) threads = Environment.ProcessorCount;
        var file = GgufFile.Open(path);
        try
        {
            var lm = new LanguageModel(file, threads);
            if (sidecar != NoSidecar) lm.LoadSidecar(sidecar ?? Sidecar.PathFor(path), required: sidecar != null);
            return lm;
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    private void LoadSidecar(string path, bool required)
    {
        if (!System.IO.File.Exists(path))
        {
            if (required) SidecarWarning = $"calibration sidecar {path} does not exist; using default speculation settings";
            return;
        }
        try
        {
            UseCalibration(Sidecar.Read(path, _file, Config));
            SidecarPath = path;
        }
        catch (SidecarException e)
        {
            SidecarWarning = $"{e.Message}; using default speculation settings";
        }
        catch (IOException e)
        {
            SidecarWarning = $"calibration sidecar {path} could not be read ({e.Message}); using default speculation settings";
        }
    }

    /// <summary>Uses a calibration's exit head, bound priors and settings (null: back to the model's own head and the defaults).</summary>
    internal void UseCalibration(SidecarContents? c)
    {
        lock (_gate)
        {
            ExitHead = c == null ? null : new CalibratedExitHead(_transformer, c.Translators.Select(t => (t.Layer, t.A, t.B)), c.DraftTokens);
            ExitPriors = c == null ? null : new ExitPriors(c.Rates, c.HeadCostInLayers);
            SpeculationDefaults = c?.Speculation ?? SpeculationOptions.Default;
            if (c == null) SidecarPath = null;
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
            if (options.Speculation == null) options = options with { Speculation = SpeculationDefaults };
            return options.Method == DecodingMethod.Autoregressive
                ? new Autoregressive(_transformer).Generate(prompt, options, Tokenizer.IsEndOfGeneration, onToken, cancellation)
                : new SelfSpeculative(_transformer, _costs, ExitHead, ExitPriors).Generate(prompt, options, Tokenizer.IsEndOfGeneration, onToken, cancellation);
        }
    }

    public void Dispose()
    {
        _pool.Dispose();
        _file.Dispose();
    }
}
