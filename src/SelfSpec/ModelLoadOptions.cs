namespace SelfSpec;

/// <summary>How a model is opened.</summary>
public sealed record ModelLoadOptions
{
    /// <summary>Worker threads of the forward pass; 0 = one per processor core.</summary>
    public int Threads { get; init; }

    /// <summary>Which calibration sidecar to use.</summary>
    public CalibrationChoice Calibration { get; init; } = CalibrationChoice.Auto;

    /// <summary>The sidecar file; null = <c>MODEL.gguf.selfspec</c> beside the model.</summary>
    public string? SidecarPath { get; init; }

    /// <summary>
    /// Continuous batching: up to this many generations (of any sessions) decode together, their rows sharing every
    /// forward pass; more wait for a slot, first come, first served. 0 (the default): sessions take turns a step at a
    /// time. Outputs are the same either way (architecture.md 2.1, 4).
    /// </summary>
    public int Parallel { get; init; }

    /// <summary>
    /// Bytes of keys and values kept across sessions (least recently used out first): a generation whose prompt begins
    /// with tokens another session computed takes them instead of computing them again; output is the same. 0: off.
    /// </summary>
    public long PromptCacheBytes { get; init; }

    /// <summary>
    /// How many of the model's latest answers lookup and hybrid search for drafts (the datastore, architecture.md 5);
    /// 0 = none. Answers stay in memory only.
    /// </summary>
    public int RememberedAnswers { get; init; } = Decoding.Datastore.DefaultCapacity;

    /// <summary>
    /// Runs every decoding path once at load (a few tokens on a dummy prompt, for 1..w_max+1 rows), so the first
    /// request runs compiled code and a filled cost table (architecture.md 8). Off in tests that time nothing.
    /// </summary>
    public bool WarmUp { get; init; } = true;

    /// <summary>The options of a command line's <c>--threads</c> and <c>--sidecar</c> (a path, <c>none</c>, or absent).</summary>
    public static ModelLoadOptions FromCommandLine(int threads, string? sidecar) => sidecar switch
    {
        null => new ModelLoadOptions { Threads = threads },
        "none" => new ModelLoadOptions { Threads = threads, Calibration = CalibrationChoice.None },
        _ => new ModelLoadOptions { Threads = threads, Calibration = CalibrationChoice.Required, SidecarPath = sidecar },
    };
}

/// <summary>Whether a calibration sidecar is loaded.</summary>
public enum CalibrationChoice
{
    /// <summary>The sidecar when it exists (silently none otherwise).</summary>
    Auto,
    /// <summary>None: the model's own head and the default speculation settings.</summary>
    None,
    /// <summary>The sidecar must exist; when it is missing or refused, <see cref="LanguageModel.SidecarWarning"/> says so.</summary>
    Required,
}
