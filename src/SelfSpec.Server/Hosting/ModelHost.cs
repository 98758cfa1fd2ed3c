using SelfSpec.Server.Generation;

namespace SelfSpec.Server.Hosting;

/// <summary>
/// The served model and its generation service: absent while the model loads (the server already answers, /health
/// says 503), then ready. A model handed in already loaded is not owned and not disposed.
/// </summary>
public sealed class ModelHost : IDisposable
{
    private readonly ServerOptions _options;
    private readonly bool _owned;
    private volatile Ready? _ready;

    /// <summary>A host that loads <see cref="ServerOptions.ModelPath"/> when <see cref="Load"/> is called.</summary>
    public ModelHost(ServerOptions options)
    {
        _options = options;
        _owned = true;
    }

    /// <summary>A host over a model already loaded, ready at once (tests, and programs embedding the server).</summary>
    public ModelHost(ServerOptions options, LanguageModel model)
    {
        _options = options;
        _ready = Create(model);
    }

    public ServerOptions Options => _options;
    public bool IsReady => _ready != null;
    /// <summary>Why loading failed, or null.</summary>
    public string? LoadError { get; private set; }

    public LanguageModel Model => Get().Model;
    public IGenerationService Generation => Get().Service;
    /// <summary>The name clients use for the model: its file name without the extension.</summary>
    public string ModelId => Get().Id;
    /// <summary>The largest prompt + output of a request: the model's context, or less when the server was told so.</summary>
    public int ContextLength => Get().Context;

    /// <summary>Whether <paramref name="name"/> names the loaded model (its id or the alias).</summary>
    public bool Names(string name) => name == ModelId || (_options.Alias != null && name == _options.Alias);

    /// <summary>Loads the model (blocking); on failure <see cref="LoadError"/> says why and the exception propagates.</summary>
    public void Load()
    {
        try
        {
            string path = ModelLocator.Resolve(_options.ModelPath);
            var load = (_options.LoadOptions ?? new ModelLoadOptions()) with { Threads = _options.Threads, Parallel = _options.Parallel, PromptCacheBytes = (long)_options.CacheMegabytes << 20 };
            _ready = Create(LanguageModel.Load(path, load));
        }
        catch (Exception e)
        {
            LoadError = e.Message;
            throw;
        }
    }

    private Ready Create(LanguageModel model)
    {
        int context = _options.ContextLength > 0 ? Math.Min(_options.ContextLength, model.Config.ContextLength) : model.Config.ContextLength;
        // A model that batches (loaded with Parallel slots) runs requests together; else one at a time.
        IGenerationService service = model.Parallel > 0
            ? new BatchedGenerationService(model, new SessionPool(model, Math.Max(_options.MaxSessions, model.Parallel)), _options.MaxQueue)
            : new SequentialGenerationService(new SessionPool(model, _options.MaxSessions), _options.MaxQueue);
        return new Ready(model, service, Path.GetFileNameWithoutExtension(model.Path), context);
    }

    private Ready Get() => _ready ?? throw new InvalidOperationException("the model is not loaded yet");

    public void Dispose()
    {
        if (_ready is not { } r) return;
        (r.Service as IDisposable)?.Dispose();
        if (_owned) r.Model.Dispose();
    }

    private sealed record Ready(LanguageModel Model, IGenerationService Service, string Id, int Context);
}
