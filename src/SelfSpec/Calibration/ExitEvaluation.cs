using System.Numerics.Tensors;

namespace SelfSpec.Calibration;

/// <summary>
/// Exit decisions on recorded positions: for each row and candidate layer, the draft token and the annealed
/// confidence (for a grid of alphas) over each draft-vocabulary size. Computed once on the held-out rows; the
/// agreement tables and the parameter search read from it.
/// </summary>
internal sealed class ExitTable
{
    public required int[] Rows { get; init; }
    public required int[] Layers { get; init; }
    public required int[] VocabSizes { get; init; }
    public required float[] Alphas { get; init; }
    /// <summary>[vocab size][layer][row]: the draft token.</summary>
    public required int[][][] Draft { get; init; }
    /// <summary>[vocab size][layer][alpha][row]: max softmax(logits / T_l).</summary>
    public required float[][][][] Confidence { get; init; }

    public double Agreement(int vocab, int layer, int[] argmax)
    {
        int hits = 0;
        var d = Draft[vocab][layer];
        for (int i = 0; i < Rows.Length; i++) if (d[i] == argmax[Rows[i]]) hits++;
        return Rows.Length > 0 ? (double)hits / Rows.Length : 0;
    }
}

internal static class ExitEvaluation
{
    private const int Chunk = 256;

    /// <summary>
    /// Draft tokens and confidences of <paramref name="translators"/> (one per layer of the data, null = the logit
    /// lens) on <paramref name="rows"/>, over the prefixes <paramref name="vocabSizes"/> of the head's vocabulary.
    /// </summary>
    public static ExitTable Build(CalibrationData data, Translator?[] translators, DraftHead head, int[] rows, int[] vocabSizes,
        float[] alphas, int modelLayers, int threads, Action<double>? progress = null)
    {
        int d = data.Dim, nl = data.Layers.Length, nMax = vocabSizes.Max();
        if (nMax > head.Size) throw new ArgumentException("vocabulary size beyond the draft head");
        var draft = vocabSizes.Select(_ => Enumerable.Range(0, nl).Select(_ => new int[rows.Length]).ToArray()).ToArray();
        var conf = vocabSizes.Select(_ => Enumerable.Range(0, nl).Select(_ => alphas.Select(_ => new float[rows.Length]).ToArray()).ToArray()).ToArray();
        var x = new float[Chunk * d];
        var z = new float[Chunk * d];
        var u = new float[Chunk * d];
        var inv = new float[Chunk];
        var logits = new float[Chunk * nMax];
        var scratch = new float[nMax];
        for (int li = 0; li < nl; li++)
        {
            var t = translators[li];
            int layer = data.Layers[li];
            for (int s = 0; s < rows.Length; s += Chunk)
            {
                int m = Math.Min(Chunk, rows.Length - s);
                data.Hidden[li].Read(rows.AsSpan(s, m), x);
                if (t != null) t.Apply(x.AsSpan(0, m * d), z, m, threads);
                else x.AsSpan(0, m * d).CopyTo(z);
                head.Normalize(z, u, inv, m);
                head.Logits(u, logits, m, nMax, threads);
                for (int i = 0; i < m; i++)
                {
                    var row = logits.AsSpan(i * nMax, nMax);
                    for (int vi = 0; vi < vocabSizes.Length; vi++)
                    {
                        var prefix = row[..vocabSizes[vi]];
                        int best = TensorPrimitives.IndexOfMax(prefix);
                        draft[vi][li][s + i] = head.Tokens[best];
                        float max = prefix[best];
                        for (int ai = 0; ai < alphas.Length; ai++)
                        {
                            float temp = Decoding.ExitConfidence.Temperature(alphas[ai], layer, modelLayers);
                            var sc = scratch.AsSpan(0, prefix.Length);
                            TensorPrimitives.Subtract(prefix, max, sc);
                            TensorPrimitives.Multiply(sc, 1f / temp, sc);
                            TensorPrimitives.Exp(sc, sc);
                            conf[vi][li][ai][s + i] = 1f / TensorPrimitives.Sum(sc);
                        }
                    }
                }
            }
            progress?.Invoke((li + 1.0) / nl);
        }
        return new ExitTable { Rows = rows, Layers = data.Layers, VocabSizes = vocabSizes, Alphas = alphas, Draft = draft, Confidence = conf };
    }

    /// <summary>Agreement with the final token of <paramref name="translator"/> (null: logit lens) over the first <paramref name="columns"/> draft tokens.</summary>
    public static double Agreement(CalibrationData data, int layerIndex, Translator? translator, DraftHead head, int[] rows, int columns, int threads)
    {
        int d = data.Dim, hits = 0;
        var x = new float[Chunk * d];
        var z = new float[Chunk * d];
        var u = new float[Chunk * d];
        var inv = new float[Chunk];
        var logits = new float[Chunk * columns];
        for (int s = 0; s < rows.Length; s += Chunk)
        {
            int m = Math.Min(Chunk, rows.Length - s);
            data.Hidden[layerIndex].Read(rows.AsSpan(s, m), x);
            if (translator != null) translator.Apply(x.AsSpan(0, m * d), z, m, threads);
            else x.AsSpan(0, m * d).CopyTo(z);
            head.Normalize(z, u, inv, m);
            head.Logits(u, logits, m, columns, threads);
            for (int i = 0; i < m; i++)
                if (head.Tokens[TensorPrimitives.IndexOfMax(logits.AsSpan(i * columns, columns))] == data.Teacher.ArgMax[rows[s + i]]) hits++;
        }
        return rows.Length > 0 ? (double)hits / rows.Length : 0;
    }
}
