using System.Diagnostics;
using System.Numerics.Tensors;
using SelfSpec.Decoding;
using SelfSpec.Model;

namespace SelfSpec.Calibration;

/// <summary>One calibration prompt's greedy trajectory and where its positions sit in the recorded data.</summary>
internal sealed record RecordedPrompt(int Index, string Task, int[] Prompt, int[] Output, int FirstRow, int Rows, bool HeldOut);

/// <summary>
/// Recorded positions (architecture.md 6): for each position of each greedy trajectory, the hidden state after every candidate
/// exit layer (half precision), the last layer's pre-norm state scaled to unit RMS (the ridge target: the final norm
/// is scale-invariant, so this changes no logit), and the final distribution's top entries.
/// </summary>
internal sealed class CalibrationData
{
    public required int Dim { get; init; }
    public required int[] Layers { get; init; }
    public required int Count { get; init; }
    /// <summary>By candidate layer index: (Count x Dim).</summary>
    public required HalfRows[] Hidden { get; init; }
    public required HalfRows Target { get; init; }
    public required Teacher Teacher { get; init; }
    /// <summary>(Count) whether the position's next token was generated (not part of the prompt).</summary>
    public required bool[] Generated { get; init; }
    public required List<RecordedPrompt> Prompts { get; init; }
    public required double GenerateSeconds { get; init; }
    public required double RecordSeconds { get; init; }

    public long Bytes => (long)Count * Dim * 2 * (Layers.Length + 1) + (long)Count * Teacher.K * 8 + Count * 5L;

    public int[] Rows(bool heldOut, bool generatedOnly = false) =>
        Prompts.Where(p => p.HeldOut == heldOut)
            .SelectMany(p => Enumerable.Range(p.FirstRow, p.Rows))
            .Where(r => !generatedOnly || Generated[r]).ToArray();

    /// <summary>Bytes needed to record <paramref name="positions"/> positions of <paramref name="layers"/> layers.</summary>
    public static long BudgetBytes(int positions, int layers, int dim, int topK) =>
        (long)positions * dim * 2 * (layers + 1) + (long)positions * topK * 8 + positions * 5L;
}

internal sealed record CollectionOptions
{
    public int Positions { get; init; } = 30_000;
    public int MaxNewTokens { get; init; } = 160;
    public int TopK { get; init; } = 32;
    /// <summary>Every this-many-th prompt is held out (never fitted on; every reported figure comes from these).</summary>
    public int HoldOutEvery { get; init; } = 5;
}

/// <summary>
/// Data collection: greedy generation with the engine's fastest exact method (its output is plain greedy decoding's),
/// then one batched pass per trajectory that records every position (batch invariance makes these the very states
/// generation computed).
/// </summary>
internal static class Collector
{
    public static CalibrationData Collect(LanguageModel lm, IReadOnlyList<(string Task, int[] Tokens)> prompts, int[] layers,
        CollectionOptions o, Action<string, double>? progress = null, CancellationToken cancellation = default)
    {
        var t = lm.Transformer;
        var c = lm.Config;
        int d = c.EmbeddingDim, v = c.VocabSize, k = Math.Min(o.TopK, v), cap = o.Positions;
        if (layers.Length == 0 || layers.Any(l => l < 1 || l >= c.LayerCount) || !layers.SequenceEqual(layers.Order().Distinct()))
            throw new InvalidRequestException($"candidate exit layers must be ascending, distinct and within 1..{c.LayerCount - 1}");
        var hidden = layers.Select(_ => new Half[(long)cap * d]).ToArray();
        var target = new Half[(long)cap * d];
        var ids = new int[cap * k];
        var probs = new float[cap * k];
        var argmax = new int[cap];
        var generated = new bool[cap];
        var recorded = new List<RecordedPrompt>();
        int count = 0;
        double genSeconds = 0, recSeconds = 0;
        var batch = new float[t.MaxBatch * d];
        var logits = new float[t.MaxBatch * v];
        var exp = new float[v];
        var positions = new int[t.MaxBatch];
        var generation = new GenerationOptions { MaxTokens = o.MaxNewTokens, Method = DecodingMethod.Hybrid, Speculation = SpeculationOptions.Default };
        for (int pi = 0; pi < prompts.Count && count < cap; pi++)
        {
            if (cancellation.IsCancellationRequested) break;
            var (task, prompt) = prompts[pi];
            var clock = Stopwatch.StartNew();
            var result = lm.Generate(prompt, generation, cancellation: cancellation);
            genSeconds += clock.Elapsed.TotalSeconds;
            int[] seq = [.. prompt, .. result.OutputTokens];
            int rows = Math.Min(seq.Length, cap - count);
            clock.Restart();
            var cache = new KvCache(c, seq.Length);
            for (int s = 0; s < rows; s += t.MaxBatch)
            {
                int n = Math.Min(t.MaxBatch, rows - s);
                for (int i = 0; i < n; i++) positions[i] = s + i;
                var h = batch.AsSpan(0, n * d);
                t.Embed(seq.AsSpan(s, n), h);
                int from = 0;
                for (int li = 0; li < layers.Length; li++)
                {
                    t.Forward(positions.AsSpan(0, n), h, from, layers[li], cache);
                    from = layers[li];
                    TensorPrimitives.ConvertToHalf(h, hidden[li].AsSpan((count + s) * d, n * d));
                }
                t.Forward(positions.AsSpan(0, n), h, from, c.LayerCount, cache);
                cache.Commit(s + n);
                for (int i = 0; i < n; i++)
                {
                    var row = h.Slice(i * d, d);
                    float scale = 1f / MathF.Sqrt(TensorPrimitives.SumOfSquares(row) / d + 1e-12f);
                    TensorPrimitives.Multiply(row, scale, exp.AsSpan(0, d));
                    TensorPrimitives.ConvertToHalf(exp.AsSpan(0, d), target.AsSpan((count + s + i) * d, d));
                }
                t.FinalLogits(h, n, logits);
                for (int i = 0; i < n; i++)
                {
                    int r = count + s + i;
                    TopEntries(logits.AsSpan(i * v, v), exp, ids.AsSpan(r * k, k), probs.AsSpan(r * k, k));
                    argmax[r] = ids[r * k];
                    generated[r] = s + i >= prompt.Length - 1;
                }
            }
            recSeconds += clock.Elapsed.TotalSeconds;
            bool heldOut = pi % o.HoldOutEvery == o.HoldOutEvery - 1;
            recorded.Add(new RecordedPrompt(pi, task, prompt, result.OutputTokens, count, rows, heldOut));
            count += rows;
            progress?.Invoke($"{count:N0} positions ({pi + 1} prompts)", (double)count / cap);
        }
        if (count < cap)
        {
            hidden = hidden.Select(hArr => hArr[..(count * d)]).ToArray();
            target = target[..(count * d)];
            ids = ids[..(count * k)];
            probs = probs[..(count * k)];
            argmax = argmax[..count];
            generated = generated[..count];
        }
        return new CalibrationData
        {
            Dim = d,
            Layers = layers,
            Count = count,
            Hidden = hidden.Select(hArr => new HalfRows(hArr, d)).ToArray(),
            Target = new HalfRows(target, d),
            Teacher = new Teacher(ids, probs, k, argmax),
            Generated = generated,
            Prompts = recorded,
            GenerateSeconds = genSeconds,
            RecordSeconds = recSeconds,
        };
    }

    /// <summary>The k most likely tokens of a logit row (ties: lower id first) and their softmax probabilities.</summary>
    public static void TopEntries(ReadOnlySpan<float> logits, Span<float> scratch, Span<int> ids, Span<float> probs)
    {
        int k = ids.Length;
        float max = TensorPrimitives.Max(logits);
        TensorPrimitives.Subtract(logits, max, scratch);
        TensorPrimitives.Exp(scratch, scratch);
        float sum = TensorPrimitives.Sum(scratch[..logits.Length]);
        int filled = 0;
        for (int i = 0; i < logits.Length; i++)
        {
            float x = logits[i];
            if (filled == k && x <= logits[ids[k - 1]]) continue;
            int j = filled < k ? filled++ : k - 1;
            while (j > 0 && logits[ids[j - 1]] < x) { ids[j] = ids[j - 1]; j--; }
            ids[j] = i;
        }
        for (int j = 0; j < k; j++) probs[j] = scratch[ids[j]] / sum;
    }
}
