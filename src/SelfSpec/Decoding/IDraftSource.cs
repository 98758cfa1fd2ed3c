namespace SelfSpec.Decoding;

/// <summary>
/// Where drafts come from (prompt lookup, an early exit, a fixed exit). A source proposes the next draft for the
/// newest row and hears the verifier's verdict on each draft it proposed; it never decides what is committed: the
/// decoding loop and <see cref="Verifier"/> are the one place where exactness is decided.
/// </summary>
internal interface IDraftSource
{
    /// <summary>A new round begins.</summary>
    void BeginRound();

    /// <summary>
    /// Proposes the draft that follows row <paramref name="k"/> (the newest row), or returns <see cref="DraftSources.None"/>
    /// (no draft here: the next source may try) or <see cref="DraftSources.Stop"/> (drafting ends for this round).
    /// <paramref name="source"/> is the counter the draft is counted under: 0 for lookup, <see cref="DraftSources.Datastore"/>
    /// for a copy from the datastore, the exit layer otherwise.
    /// </summary>
    int Propose(int k, int rowLimit, out int source);

    /// <summary>The verifier tested the draft this source proposed after row <paramref name="k"/>.</summary>
    void Observe(int k, bool accepted);
}

/// <summary>Proposal outcomes that are not tokens.</summary>
internal static class DraftSources
{
    /// <summary>No draft from this source here; the next source may try.</summary>
    public const int None = -1;
    /// <summary>Drafting ends for this round.</summary>
    public const int Stop = -2;
    /// <summary>The counter of lookup drafts (exit drafts count under their layer).</summary>
    public const int Lookup = 0;
    /// <summary>The counter of datastore drafts: past every exit layer of a model of <paramref name="layers"/> layers.</summary>
    public static int Datastore(int layers) => layers + 1;
    /// <summary>The statistics' name of lookup's and the datastore's drafts (exit drafts are "layer N").</summary>
    public const string LookupName = "lookup", DatastoreName = "datastore";
}
