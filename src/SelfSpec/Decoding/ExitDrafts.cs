namespace SelfSpec.Decoding;

/// <summary>
/// SpecBound's early exit: the newest row climbs the candidate exit layers up to d_max and drafts at the first whose
/// annealed confidence reaches tau; a row that reaches d_max without exiting is difficult and ends drafting. At most
/// <paramref name="maxDrafts"/> exit drafts a round (calibration's w_max; lookup copies in the same round do not count).
/// </summary>
internal sealed class ExitDrafts(ExitProbe probe, int[] exitLayers, int maxDepth, RoundRows rows, int maxRows, int maxDrafts) : IDraftSource
{
    private readonly int[] _layer = new int[maxRows]; // by row: the exit layer of the draft after it
    private int _drafted; // exit drafts this round

    public void BeginRound() => _drafted = 0;

    public int Propose(int k, int rowLimit, out int source)
    {
        source = 0;
        if (_drafted >= maxDrafts) return DraftSources.Stop;
        var spec = probe.Spec;
        bool checkedAny = false;
        foreach (int layer in exitLayers)
        {
            if (layer > maxDepth) break;
            if (layer < rows.Depth(k)) continue;
            if (spec.PriceBound && !probe.Bound.ExitCheckWorthIt(layer)) continue;
            checkedAny = true;
            bool fired = probe.Confidence(k, layer) >= spec.Tau;
            probe.Bound.ObserveExitCheck(layer, fired);
            if (!fired) continue;
            probe.Bound.AddExitDraft(layer);
            _drafted++;
            _layer[k] = source = layer;
            return probe.Choose(k, layer);
        }
        if (checkedAny) probe.Stats.DifficultStops++;
        return DraftSources.Stop;
    }

    public void Observe(int k, bool accepted) => probe.Bound.ObserveExitDraft(_layer[k], accepted);
}
