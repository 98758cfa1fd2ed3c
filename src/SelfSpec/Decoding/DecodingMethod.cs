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
public enum FinishReason { Length, EndOfGeneration, ContextFull, Cancelled }
