using SelfSpec.Decoding;
using SelfSpec.Tokenization;

namespace SelfSpec;

/// <summary>
/// A generation in progress on a session: advances the decoding loop one step at a time under the model's gate (or is
/// advanced by the model's scheduler in shared passes), then hands out the committed tokens one by one with the text
/// they make visible, until a stop sequence or the end.
/// </summary>
internal sealed class SessionRun
{
    private readonly LanguageModel _model;
    private readonly int[] _prompt;
    private readonly StopTextFilter _text;
    // Whole results without stop sequences need no text per token: it is decoded once at the end, keeping the
    // per-token path free of allocations.
    private readonly bool _textPerToken;
    private int _reported;   // committed tokens handed out so far
    private bool _started, _ended;
    private FinishReason? _finish;

    private readonly IDecodeLoop? _steps; // null when the scheduler advances the generation

    public SessionRun(LanguageModel model, IGenerationProgress loop, GenerationOptions options, int[] prompt, bool streaming)
    {
        _steps = loop as IDecodeLoop;
        Streaming = streaming;
        _textPerToken = streaming || options.StopSequences.Count > 0;
        _model = model;
        Loop = loop;
        _prompt = prompt;
        _text = new StopTextFilter(model.Tokenizer, options.StopSequences);
    }

    public IGenerationProgress Loop { get; }

    /// <summary>Whether updates carry text as they go (else only the final result matters).</summary>
    public bool Streaming { get; }

    /// <summary>Whether the loop threw: its cache is then in an unknown state.</summary>
    public bool Failed { get; private set; }

    /// <summary>Whether a stop sequence has ended the visible text (nothing more need be generated).</summary>
    public bool Stopped => _text.Stopped;

    /// <summary>Ends the generation as cancelled (the scheduler's path; <see cref="Advance"/> does this itself).</summary>
    public void Cancel() => _finish ??= FinishReason.Cancelled;

    /// <summary>Marks the generation failed: its cache is then in an unknown state.</summary>
    public void Fail() => Failed = true;

    /// <summary>Runs the next step (the prefill first). False when nothing more will be committed.</summary>
    public bool Advance(CancellationToken cancellation)
    {
        if (_ended || _text.Stopped) return false;
        if (cancellation.IsCancellationRequested)
        {
            _finish = FinishReason.Cancelled;
            _ended = true;
            return false;
        }
        bool go;
        try
        {
            var steps = _steps ?? throw new InvalidOperationException("this generation is advanced by the model's scheduler");
            lock (_model.Gate) go = _started ? steps.Step() : steps.Start();
        }
        catch
        {
            Failed = true;
            throw;
        }
        _started = true;
        if (!go) _ended = true;
        return true;
    }

    /// <summary>The next committed token not yet handed out, with the text it makes visible.</summary>
    public bool TryNext(out GenerationUpdate update)
    {
        var output = Loop.Output;
        if (_text.Stopped || _reported >= output.Count)
        {
            update = default;
            return false;
        }
        var logprobs = Loop.Logprobs.Count > _reported ? Loop.Logprobs[_reported] : null;
        int token = output[_reported++];
        update = new GenerationUpdate(_textPerToken ? _text.Push(token) : "", token, null, logprobs);
        if (_text.Stopped) _finish = FinishReason.StopSequence;
        return true;
    }

    /// <summary>The final update: text held back until the end, and the result.</summary>
    public GenerationUpdate Finish()
    {
        string tail = _textPerToken ? _text.Flush() : "";
        if (_text.Stopped) _finish ??= FinishReason.StopSequence;
        var finish = _finish ?? Loop.Finish;
        var stats = Loop.CompleteStats();
        var output = new int[_reported];
        for (int i = 0; i < output.Length; i++) output[i] = Loop.Output[i];
        // Tokens committed in the same round after a stop sequence are not part of the answer.
        stats.GeneratedTokens = output.Length;
        stats.Sidecar = _model.SidecarPath;
        // The answer joins the datastore for later generations (architecture.md 5); a cancelled one is not an answer.
        if (finish != FinishReason.Cancelled) _model.Datastore.Remember(output);
        var logprobs = Loop.Logprobs.Count > 0 ? Loop.Logprobs.Take(output.Length).ToArray() : null;
        var result = new GenerationResult(_prompt, output, finish, stats)
        {
            Text = _textPerToken ? _text.Text : _model.Tokenizer.Decode(output),
            Logprobs = logprobs,
        };
        return new GenerationUpdate(tail, null, result);
    }
}
