using SelfSpec.Batching;
using SelfSpec.Calibration;
using SelfSpec.Decoding;
using SelfSpec.Gguf;
using SelfSpec.Model;
using SelfSpec.Threading;
using SelfSpec.Tokenization;

namespace SelfSpec;

/// <summary>
/// A GGUF model ready to generate: the mapped file, its configuration, weights, tokenizer and chat template.
/// Immutable once loaded and shared: each sequence runs in its own <see cref="ModelSession"/>; forward passes of
/// concurrent sessions take turns, or share passes when the model batches (<see cref="ModelLoadOptions.Parallel"/>).
/// Weights are never copied.
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
    private readonly Datastore _datastore; // the model's earlier output, searched by lookup and hybrid
    private readonly DraftRates _rates;    // drafts' acceptance learned over this model's generations, for the price bound

    public string Path => _file.Path;
    public long FileSize => _file.FileSize;
    /// <summary>Bytes of all the file's tensors (what a decoded token streams at most: the weights).</summary>
    public long WeightBytes => _file.Tensors.Sum(t => t.ByteSize);
    public ModelConfig Config { get; }
    public Tokenizer Tokenizer { get; }
    public ChatTemplate ChatTemplate { get; }
    public int Threads => _pool.ThreadCount;
    /// <summary>The calibration sidecar in use (<c>MODEL.gguf.selfspec</c> or the one asked for), or null.</summary>
    public string? SidecarPath { get; private set; }
    /// <summary>Why a sidecar that was found or asked for was refused (decoding then uses the defaults), or null.</summary>
    public string? SidecarWarning { get; private set; }
    /// <summary>Where this model's calibration sidecar is looked for by default: <c>MODEL.gguf.selfspec</c> beside the model.</summary>
    public string DefaultSidecarPath => Sidecar.PathFor(Path);
    /// <summary>The speculation settings used when a request gives none: the sidecar's measured ones, else <see cref="SpeculationOptions.Default"/>.</summary>
    public SpeculationOptions SpeculationDefaults { get; private set; } = SpeculationOptions.Default;
    internal CalibratedExitHead? ExitHead { get; private set; }
    internal ExitPriors? ExitPriors { get; private set; }
    internal GgufFile File => _file;
    internal Transformer Transformer => _transformer;
    /// <summary>The price bound's cost table, shared by this model's generations (tests fix it).</summary>
    internal DecodeCosts Costs => _costs;
    /// <summary>The model's earlier output that lookup and hybrid draft from (the calibration's generations, latest answers).</summary>
    internal Datastore Datastore => _datastore;
    /// <summary>Acceptance rates of drafts learned over this model's generations (the price bound's starting estimates).</summary>
    internal DraftRates DraftRates => _rates;

    /// <summary>
    /// Whether finished answers join the datastore lookup and hybrid draft from (architecture.md 5; on by default when
    /// <see cref="ModelLoadOptions.RememberedAnswers"/> is above 0). Drafts change, outputs never do.
    /// </summary>
    public bool RecordsAnswers
    {
        get => _datastore.Recording;
        set => _datastore.Recording = value;
    }

    /// <summary>Adds one answer to the datastore by hand (e.g. a benchmark that records one answer per question itself).</summary>
    public void RememberAnswer(ReadOnlySpan<int> output) => _datastore.Add(output);

    private LanguageModel(GgufFile file, int threads, int rememberedAnswers)
    {
        _file = file;
        Config = ModelConfig.FromGguf(file);
        var weights = ModelWeights.Load(file, Config, workers: threads);
        Tokenizer = Tokenizer.FromGguf(file);
        if (Tokenizer.VocabSize != Config.VocabSize)
            throw new GgufFormatException($"tokenizer has {Tokenizer.VocabSize} tokens but the model's head has {Config.VocabSize} rows");
        ChatTemplate = ChatTemplate.FromGguf(file);
        _pool = new WorkerPool(threads);
        _transformer = new Transformer(weights, _pool, MaxBatch, Config.ContextLength);
        _costs = new DecodeCosts(MaxBatch, HeadToLayerBytes(file));
        _datastore = new Datastore(Config.VocabSize, rememberedAnswers);
        _rates = new DraftRates(Config.LayerCount);
    }

    /// <summary>
    /// Opens a GGUF model with the calibration sidecar beside it (<c>PATH.selfspec</c>) when there is one.
    /// <paramref name="threads"/> 0 means one per processor core.
    /// </summary>
    /// <exception cref="GgufFormatException">the file is not a valid GGUF file</exception>
    /// <exception cref="UnsupportedModelException">the architecture, a tensor type or shape is not supported</exception>
    public static LanguageModel Load(string path, int threads = 0) => Load(path, new ModelLoadOptions { Threads = threads });

    /// <summary>
    /// Opens a GGUF model. A sidecar for another model or a corrupt one is refused: <see cref="SidecarWarning"/> says
    /// why, and the defaults are used.
    /// </summary>
    /// <exception cref="GgufFormatException">the file is not a valid GGUF file</exception>
    /// <exception cref="UnsupportedModelException">the architecture, a tensor type or shape is not supported</exception>
    public static LanguageModel Load(string path, ModelLoadOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        int threads = options.Threads;
        if (threads < 0 || threads > 256) throw new InvalidRequestException($"thread count {threads} must be between 0 (all cores) and 256");
        if (options.RememberedAnswers < 0 || options.RememberedAnswers > 4096)
            throw new InvalidRequestException($"remembered answers {options.RememberedAnswers} must be between 0 and 4096");
        if (threads == 0) threads = Environment.ProcessorCount;
        var file = GgufFile.Open(path);
        try
        {
            var lm = new LanguageModel(file, threads, options.RememberedAnswers);
            if (options.Parallel < 0 || options.Parallel > MaxBatch)
                throw new InvalidRequestException($"parallel sequences {options.Parallel} must be between 0 (take turns) and {MaxBatch}");
            if (options.PromptCacheBytes < 0) throw new InvalidRequestException($"prompt cache size {options.PromptCacheBytes} bytes must not be negative");
            if (options.Calibration != CalibrationChoice.None)
                lm.LoadSidecar(options.SidecarPath ?? Sidecar.PathFor(path), required: options.Calibration == CalibrationChoice.Required);
            if (options.WarmUp) WarmUp.Run(lm);
            if (options.PromptCacheBytes > 0) lm.PromptCache = new PromptCache(lm.Config, options.PromptCacheBytes);
            if (options.Parallel > 0) lm.Scheduler = new Scheduler(lm, options.Parallel);
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

    /// <summary>
    /// The final head's weight bytes over one layer's (layer 0's tensors; the output matrix, or the tied embedding):
    /// decoding a row streams the weights, so this is what a head call costs in layers until it is timed.
    /// </summary>
    private static double HeadToLayerBytes(GgufFile file)
    {
        long head = 0, layer = 0;
        foreach (var t in file.Tensors)
        {
            if (t.Name == "output.weight" || t.Name == "token_embd.weight" && head == 0) head = t.ByteSize;
            else if (t.Name.StartsWith("blk.0.", StringComparison.Ordinal)) layer += t.ByteSize;
        }
        return head > 0 && layer > 0 ? (double)head / layer : DecodeCosts.DefaultHeadToLayer;
    }

    /// <summary>Uses a calibration's exit head, bound priors and settings (null: back to the model's own head and the defaults).</summary>
    internal void UseCalibration(SidecarContents? c)
    {
        lock (_gate)
        {
            ExitHead = c == null ? null : new CalibratedExitHead(_transformer, c.Translators.Select(t => (t.Layer, t.A, t.B)), c.DraftTokens);
            ExitPriors = c == null ? null : new ExitPriors(c.Rates, c.HeadCostInLayers);
            SpeculationDefaults = c?.Speculation ?? SpeculationOptions.Default;
            _datastore.SetCalibration(c?.Datastore);
            _rates.Clear(); // learned with another exit head and datastore
            if (c == null) SidecarPath = null;
        }
    }

    /// <summary>
    /// Calibrates speculation for this model on this machine (docs/architecture.md, calibration): records greedy output
    /// on prompts, fits exit heads, times the decoder's calls, searches the settings on held-out output and confirms
    /// the best few by real decoding. Takes minutes with the default options. When it returns, the chosen settings
    /// are in use on this model; <see cref="CalibrationReport.WriteSidecar"/> keeps them for later loads. Run no
    /// other generation on this model meanwhile.
    /// </summary>
    /// <param name="options">null = the defaults</param>
    /// <param name="progress">told the stage and the fraction done as calibration goes (on the calling thread)</param>
    /// <param name="cancellation">stops at the next stage boundary or prompt</param>
    /// <exception cref="InvalidRequestException">bad options (checked against this model), a bad prompt file, or too little data</exception>
    /// <exception cref="OperationCanceledException">cancelled</exception>
    public CalibrationReport Calibrate(CalibrationOptions? options = null, IProgress<CalibrationProgress>? progress = null,
        CancellationToken cancellation = default)
    {
        options ??= new CalibrationOptions();
        options.ValidateFor(Config.LayerCount);
        options = options with { Threads = Threads };
        var prompts = options.PromptsPath != null ? PromptFile.Load(options.PromptsPath, this) : PromptFile.BuiltIn(this);
        Action<string, double>? report = progress == null ? null : (what, fraction) => progress.Report(new CalibrationProgress(what, fraction));
        return new Calibrator(this, options, report).Run(prompts, cancellation);
    }

    /// <summary>Tokenizes raw prompt text: special tokens written in the text are parsed, BOS added when the model asks.</summary>
    public int[] Tokenize(string text) => Tokenizer.Encode(text, addSpecial: true, parseSpecial: true);

    /// <summary>Applies the model's chat template (with the generation prompt) and tokenizes the result.</summary>
    /// <param name="options">the template's extra variables, such as Qwen3's thinking switch; null for its defaults</param>
    public int[] TokenizeChat(IReadOnlyList<ChatMessage> messages, ChatTemplateOptions? options = null) =>
        Tokenizer.Encode(ChatTemplate.Apply(messages, addGenerationPrompt: true, options), addSpecial: true, parseSpecial: true);

    /// <summary>A new sequence on this model: its own cache, sharing the weights. Sessions may run from several threads.</summary>
    public ModelSession CreateSession() => new(this);

    /// <summary>Generates a continuation of <paramref name="prompt"/> (token ids) in a fresh session.</summary>
    /// <exception cref="InvalidRequestException">bad options, a bad token id, or a prompt that does not fit the context</exception>
    public GenerationResult Generate(int[] prompt, GenerationOptions options, CancellationToken cancellation = default) =>
        CreateSession().Generate(prompt, options, cancellation);

    /// <summary>Streams a continuation of <paramref name="prompt"/> (token ids) generated in a fresh session.</summary>
    /// <exception cref="InvalidRequestException">bad options, a bad token id, or a prompt that does not fit the context</exception>
    public IAsyncEnumerable<GenerationUpdate> GenerateAsync(int[] prompt, GenerationOptions? options = null, CancellationToken cancellation = default) =>
        CreateSession().GenerateAsync(prompt, options, cancellation);

    /// <summary>
    /// The options a generation runs with: the model's speculation defaults filled in, everything checked against this
    /// model (the one place where options meet a model).
    /// </summary>
    internal GenerationOptions Resolve(GenerationOptions options, int[] prompt)
    {
        foreach (int t in prompt)
            if ((uint)t >= (uint)Config.VocabSize) throw new InvalidRequestException($"prompt token id {t} is outside the vocabulary (0..{Config.VocabSize - 1})");
        if (options.Speculation == null) options = options with { Speculation = SpeculationDefaults };
        options.ValidateFor(Config.LayerCount);
        return options;
    }

    /// <summary>Checks options against this model without generating; throws <see cref="InvalidRequestException"/> naming the first bad one.</summary>
    public void Validate(GenerationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Resolve(options, []);
    }

    /// <summary>Serializes forward passes of all sessions on this model (the transformer's scratch and the cost table are shared).</summary>
    internal Lock Gate => _gate;

    /// <summary>The decoding loop for a request (its method's drafting, the model's exit head and cost table).</summary>
    internal IDecodeLoop CreateLoop(DecodeRequest request) =>
        request.Options.Method == DecodingMethod.Autoregressive
            ? new Autoregressive(_transformer).Begin(request)
            : new SelfSpeculative(_transformer, _costs, ExitHead, ExitPriors, _datastore.Snapshot, _rates).Begin(request);

    /// <summary>A generation as the model runs it: in the scheduler's shared passes when it batches, else its own loop.</summary>
    internal IGenerationProgress CreateProgress(DecodeRequest request) =>
        Scheduler != null ? new BatchedSequence(_transformer, _costs, request, _rates, _datastore.Snapshot) : CreateLoop(request);

    /// <summary>Keys and values kept across sessions for prompts that share a beginning (<see cref="ModelLoadOptions.PromptCacheBytes"/>), or null.</summary>
    internal PromptCache? PromptCache { get; private set; }

    /// <summary>The continuous-batching scheduler, when the model was loaded with <see cref="ModelLoadOptions.Parallel"/> above 0.</summary>
    internal Scheduler? Scheduler { get; private set; }

    /// <summary>Sequences that share forward passes (<see cref="ModelLoadOptions.Parallel"/>); 0 when sessions take turns.</summary>
    public int Parallel => Scheduler?.Slots ?? 0;

    /// <summary>Generations decoding now in the scheduler's slots (0 without a scheduler).</summary>
    public int ActiveGenerations => Scheduler?.Active ?? 0;

    /// <summary>Generations waiting for a slot (0 without a scheduler).</summary>
    public int WaitingGenerations => Scheduler?.Waiting ?? 0;

    public void Dispose()
    {
        Scheduler?.Dispose();
        _pool.Dispose();
        _file.Dispose();
    }
}
