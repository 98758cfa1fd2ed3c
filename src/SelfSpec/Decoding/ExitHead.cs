using SelfSpec.Model;

namespace SelfSpec.Decoding;

/// <summary>
/// Turns the hidden state of one row after <c>depth</c> layers into logits over a draft vocabulary (an exit
/// head): logits_l = W_V FinalNorm(A_l h + b_l). The model's own head uses the whole vocabulary with A = I, b = 0;
/// a calibrated head (<see cref="CalibratedExitHead"/>) a fitted translator and the draft vocabulary's rows only.
/// Verification always uses the full head, so the choice changes speed, never output.
/// </summary>
internal interface IExitHead
{
    /// <summary>Entries of the draft logits (the whole vocabulary for the model's own head).</summary>
    int DraftVocabSize { get; }

    /// <summary>Writes draft logits (<see cref="DraftVocabSize"/>) for the hidden row <paramref name="hidden"/> (embd) that has passed <paramref name="depth"/> layers.</summary>
    void Logits(int depth, ReadOnlySpan<float> hidden, float[] draftLogits);

    /// <summary>The vocabulary id of draft entry <paramref name="index"/>.</summary>
    int Token(int index);

    /// <summary>Full-vocabulary logits from draft logits: tokens outside the draft vocabulary get -infinity (probability 0).</summary>
    void Expand(ReadOnlySpan<float> draftLogits, Span<float> logits);
}

/// <summary>The model's own final norm and output head on the intermediate state (A = I, b = 0: the logit lens).</summary>
internal sealed class OwnExitHead(Transformer model) : IExitHead
{
    public int DraftVocabSize => model.Config.VocabSize;

    public void Logits(int depth, ReadOnlySpan<float> hidden, float[] draftLogits) => model.FinalLogits(hidden, 1, draftLogits);

    public int Token(int index) => index;

    public void Expand(ReadOnlySpan<float> draftLogits, Span<float> logits) => draftLogits.CopyTo(logits);
}

/// <summary>Layer-wise temperature annealing: shallow layers are over-confident, so they are read hotter.</summary>
internal static class ExitConfidence
{
    /// <summary>T_l = 1 + alpha (1 - l / L).</summary>
    public static float Temperature(float alpha, int layer, int layers) => 1f + alpha * (1f - (float)layer / layers);

    /// <summary>max softmax(logits / t) = 1 / sum exp((z_i - z_max) / t).</summary>
    public static float Confidence(ReadOnlySpan<float> logits, float t)
    {
        float max = System.Numerics.Tensors.TensorPrimitives.Max(logits);
        float inv = 1f / t;
        double sum = 0;
        for (int i = 0; i < logits.Length; i++) sum += MathF.Exp((logits[i] - max) * inv);
        return (float)(1.0 / sum);
    }
}
