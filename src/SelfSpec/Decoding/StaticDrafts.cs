namespace SelfSpec.Decoding;

/// <summary>Static early exit (LayerSkip / Draft&amp;Verify style): every draft from one fixed exit layer, a fixed number per round.</summary>
internal sealed class StaticDrafts(ExitProbe probe, int layer) : IDraftSource
{
    public void BeginRound() { }

    public int Propose(int k, int rowLimit, out int source)
    {
        source = layer;
        if (probe.Spec.PriceBound && !probe.Bound.StaticDraftWorthIt(layer)) return DraftSources.Stop;
        probe.Confidence(k, layer);
        probe.Bound.AddExitDraft(layer);
        return probe.Choose(k, layer);
    }

    public void Observe(int k, bool accepted) => probe.Bound.ObserveExitDraft(layer, accepted);
}
