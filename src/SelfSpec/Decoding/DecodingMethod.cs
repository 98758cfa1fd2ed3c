namespace SelfSpec.Decoding;

/// <summary>How tokens are proposed before the full model verifies them (only Autoregressive proposes none).</summary>
public enum DecodingMethod
{
    /// <summary>One full forward pass per token.</summary>
    Autoregressive,
    /// <summary>SpecBound early-exit drafts under an adaptive bound.</summary>
    SpecBound,
    /// <summary>Prompt-lookup drafts when an n-gram matches, early-exit drafts otherwise.</summary>
    Hybrid,
    /// <summary>Fixed exit layer and draft length (LayerSkip / Draft&amp;Verify style).</summary>
    Static,
    /// <summary>Prompt-lookup drafts only.</summary>
    Lookup,
}

/// <summary>Why generation ended.</summary>
public enum FinishReason
{
    /// <summary>The token limit was reached.</summary>
    Length,
    /// <summary>The model produced an end-of-generation token (not returned).</summary>
    EndOfGeneration,
    /// <summary>The model's context is full.</summary>
    ContextFull,
    /// <summary>The caller cancelled or stopped reading.</summary>
    Cancelled,
    /// <summary>The text reached one of the stop sequences (which is not returned).</summary>
    StopSequence,
}
