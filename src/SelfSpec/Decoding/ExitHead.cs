using SelfSpec.Model;

namespace SelfSpec.Decoding;

/// <summary>
/// Turns the hidden state of one row after <c>depth</c> layers into logits over the vocabulary (DESIGN 4, exit
/// heads): logits_l = W_out FinalNorm(A_l h + b_l). The seam for calibration: a translator (A_l, b_l) and a draft
/// vocabulary plug in behind this interface.
/// </summary>
internal interface IExitHead
{
    /// <summary>Writes logits (vocab) for the hidden row <paramref name="hidden"/> (embd) that has passed <paramref name="depth"/> layers.</summary>
    void Logits(int depth, ReadOnlySpan<float> hidden, float[] logits);
}

/// <summary>The model's own final norm and output head on the intermediate state (A = I, b = 0: the logit lens).</summary>
internal sealed class OwnExitHead(Transformer model) : IExitHead
{
    public void Logits(int depth, ReadOnlySpan<float> hidden, float[] logits) => model.FinalLogits(hidden, 1, logits);
}

/// <summary>Layer-wise temperature annealing (DESIGN 4): shallow layers are over-confident, so they are read hotter.</summary>
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
