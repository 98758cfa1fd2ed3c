using System.Diagnostics;
using System.Runtime.InteropServices;
using SelfSpec.Sampling;

namespace SelfSpec.Decoding;

/// <summary>
/// What the exit-based draft sources share: run a row (with catch-up) to a layer, evaluate the exit head there, and
/// choose the draft from its logits (the argmax, or a sample from q kept for the acceptance test).
/// </summary>
internal sealed class ExitProbe
{
    private readonly RoundRows _rows;
    private readonly IExitHead _head;
    private readonly PriceBound _bound;
    private readonly Sampler _sampler;
    private readonly SpeculationOptions _spec;
    private readonly DecodeCosts _costs;
    private readonly DecodeStats _stats;
    private readonly int _layers, _vocab;
    private readonly float[] _draftLogits; // (draft vocab) exit head output
    private readonly float[] _logits;      // (vocab) a draft's full-vocabulary logits when sampling
    private readonly float[] _q;           // (maxRows x vocab) draft distributions when sampling
    private readonly bool[] _oneHot;       // (maxRows)
    private readonly int[] _byLayer;       // drafts by exit layer

    public ExitProbe(RoundRows rows, IExitHead head, PriceBound bound, Sampler sampler, SpeculationOptions spec, DecodeCosts costs,
        DecodeStats stats, int layers, int vocab, float[] q, bool[] oneHot)
    {
        _rows = rows;
        _head = head;
        _bound = bound;
        _sampler = sampler;
        _spec = spec;
        _costs = costs;
        _stats = stats;
        _layers = layers;
        _vocab = vocab;
        _draftLogits = new float[head.DraftVocabSize];
        _logits = sampler.Options.IsGreedy ? [] : new float[vocab];
        _q = q;
        _oneHot = oneHot;
        _byLayer = new int[layers + 1];
    }

    public PriceBound Bound => _bound;
    public SpeculationOptions Spec => _spec;
    public DecodeStats Stats => _stats;

    /// <summary>Drafts produced at each exit layer so far.</summary>
    public ReadOnlySpan<int> DraftsByLayer => _byLayer;

    /// <summary>Runs row k to <paramref name="layer"/>, evaluates the exit head there; returns the annealed confidence.</summary>
    public float Confidence(int k, int layer)
    {
        _rows.AdvanceTo(k, layer);
        long t0 = Stopwatch.GetTimestamp();
        _head.Logits(layer, _rows.Row(k), _draftLogits);
        double seconds = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        _stats.HeadSeconds += seconds;
        _stats.ExitHeadCalls++;
        _stats.PredictedSeconds += _costs.ExitHead(_bound.ExitHeadPrior);
        _costs.ObserveExitHead(seconds);
        _bound.ChargeExitCheck();
        return ExitConfidence.Confidence(_draftLogits, ExitConfidence.Temperature(_spec.Alpha, layer, _layers));
    }

    /// <summary>The draft from row k's exit logits at <paramref name="layer"/>.</summary>
    public int Choose(int k, int layer)
    {
        _oneHot[k] = false;
        _byLayer[layer]++;
        if (_sampler.Options.IsGreedy) return _head.Token(Sampler.ArgMax(_draftLogits));
        long t0 = Stopwatch.GetTimestamp();
        // q over the full vocabulary, zero outside the draft vocabulary: the distribution the draft is drawn from.
        _head.Expand(_draftLogits, _logits);
        var q = _q.AsSpan(k * _vocab, _vocab);
        _sampler.Distribution(_logits, CollectionsMarshal.AsSpan(_rows.Tokens), q);
        int token = _sampler.Draw(q);
        _stats.SamplingSeconds += Stopwatch.GetElapsedTime(t0).TotalSeconds;
        return token;
    }
}
