namespace SelfSpec.Decoding;

/// <summary>
/// SpecBound's early exit: the newest row climbs the candidate exit layers up to d_max and drafts at the first whose
/// annealed confidence reaches tau; a row that reaches d_max without exiting is difficult and ends drafting.
/// </summary>
internal sealed class ExitDrafts(ExitProbe probe, int[] exitLayers, int maxDepth, RoundRows rows, int maxRows) : IDraftSource
{
    private readonly int[] _layer = new int[maxRows]; // by row: the exit layer of the draft after it

    public void BeginRound() { }

    public int Propose(int k, int rowLimit, out int source)
    {
        source = 0;
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
            _layer[k] = source = layer;
            return probe.Choose(k, layer);
        }
        if (checkedAny) probe.Stats.DifficultStops++;
        return DraftSources.Stop;
    }

    public void Observe(int k, bool accepted) => probe.Bound.ObserveExitDraft(_layer[k], accepted);
}
