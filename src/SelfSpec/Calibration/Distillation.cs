using System.Diagnostics;
using System.Numerics.Tensors;

namespace SelfSpec.Calibration;

/// <summary>The final distribution's top entries at each recorded position: what an exit should predict.</summary>
internal sealed class Teacher(int[] ids, float[] probs, int k, int[] argmax)
{
    /// <summary>Entries per position.</summary>
    public int K => k;
    /// <summary>(positions x K) token ids, most likely first.</summary>
    public int[] Ids => ids;
    /// <summary>(positions x K) their probabilities under the full vocabulary.</summary>
    public float[] Probs => probs;
    /// <summary>(positions) the final greedy token.</summary>
    public int[] ArgMax => argmax;
}

internal sealed record DistillationOptions
{
    public int Batch { get; init; } = 256;
    public float LearningRate { get; init; } = 2e-4f;
    public int MaxSteps { get; init; } = 300;
    /// <summary>Held-out KL is measured every this many steps; the best translator so far is kept.</summary>
    public int EvalEvery { get; init; } = 25;
    /// <summary>Stop after this many evaluations without improvement.</summary>
    public int Patience { get; init; } = 2;
    /// <summary>Wall-clock budget of one layer's distillation.</summary>
    public double Seconds { get; init; } = 60;
    public int Threads { get; init; } = 1;
    public int Seed { get; init; } = 1;
}

internal sealed record DistillationResult(Translator Best, double InitialKl, double BestKl, int Steps, double Seconds);

/// <summary>
/// Refines a translator by distillation: minibatch Adam on A, b with loss KL(p || q), p the final distribution's top
/// entries restricted to the draft vocabulary and renormalized, q = softmax over the draft vocabulary of
/// W_V FinalNorm(A h + b). Gradients by hand (softmax, then RMSNorm backward); early-stopped on held-out KL.
/// </summary>
internal sealed class Distillation
{
    private readonly IRowSource _x;
    private readonly Teacher _teacher;
    private readonly DraftHead _head;
    private readonly int _batch, _threads, _d, _n;
    // Scratch for one batch: (batch x d) inputs, pre-norm, normalized; (batch x n) logits and their gradient.
    private readonly float[] _xb, _z, _u, _inv, _logits, _gu, _gz, _gzt;

    public Distillation(IRowSource x, Teacher teacher, DraftHead head, int batch, int threads)
    {
        _x = x;
        _teacher = teacher;
        _head = head;
        _batch = batch;
        _threads = threads;
        _d = head.Dim;
        _n = head.Size;
        _xb = new float[batch * _d];
        _z = new float[batch * _d];
        _u = new float[batch * _d];
        _inv = new float[batch];
        _logits = new float[batch * _n];
        _gu = new float[batch * _d];
        _gz = new float[batch * _d];
        _gzt = new float[batch * _d];
    }

    public static DistillationResult Run(Translator init, IRowSource x, Teacher teacher, DraftHead head, int[] train, int[] heldOut,
        DistillationOptions o, CancellationToken cancellation = default)
    {
        var clock = Stopwatch.StartNew();
        var run = new Distillation(x, teacher, head, o.Batch, o.Threads);
        var t = init.Clone();
        var best = init.Clone();
        double initial = run.MeanKl(t, heldOut), bestKl = initial;
        var mA = new float[t.A.Length]; var vA = new float[t.A.Length];
        var mB = new float[t.B.Length]; var vB = new float[t.B.Length];
        var gA = new float[t.A.Length]; var gB = new float[t.B.Length];
        var order = (int[])train.Clone();
        var rng = new Random(o.Seed);
        rng.Shuffle(order);
        int cursor = 0, steps = 0, stale = 0;
        var rows = new int[o.Batch];
        const float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;
        while (steps < o.MaxSteps && clock.Elapsed.TotalSeconds < o.Seconds && !cancellation.IsCancellationRequested)
        {
            int m = Math.Min(o.Batch, order.Length);
            for (int i = 0; i < m; i++)
            {
                if (cursor == order.Length) { rng.Shuffle(order); cursor = 0; }
                rows[i] = order[cursor++];
            }
            run.Gradient(t, rows.AsSpan(0, m), gA, gB);
            steps++;
            float c1 = 1f / (1f - MathF.Pow(beta1, steps)), c2 = 1f / (1f - MathF.Pow(beta2, steps));
            Adam(t.A, gA, mA, vA, o.LearningRate, beta1, beta2, c1, c2, eps);
            Adam(t.B, gB, mB, vB, o.LearningRate, beta1, beta2, c1, c2, eps);
            if (steps % o.EvalEvery == 0 || steps == o.MaxSteps)
            {
                double kl = run.MeanKl(t, heldOut);
                if (kl < bestKl)
                {
                    bestKl = kl;
                    Array.Copy(t.A, best.A, t.A.Length);
                    Array.Copy(t.B, best.B, t.B.Length);
                    stale = 0;
                }
                else if (++stale >= o.Patience) break;
            }
        }
        return new DistillationResult(best, initial, bestKl, steps, clock.Elapsed.TotalSeconds);
    }

    private static void Adam(float[] p, float[] g, float[] m, float[] v, float lr, float b1, float b2, float c1, float c2, float eps)
    {
        for (int i = 0; i < p.Length; i++)
        {
            float gi = g[i];
            float mi = m[i] = b1 * m[i] + (1 - b1) * gi;
            float vi = v[i] = b2 * v[i] + (1 - b2) * gi * gi;
            p[i] -= lr * (mi * c1) / (MathF.Sqrt(vi * c2) + eps);
        }
    }

    /// <summary>Mean KL(p || q) over <paramref name="rows"/> (rows whose target misses the draft vocabulary are skipped).</summary>
    public double MeanKl(Translator t, ReadOnlySpan<int> rows)
    {
        double total = 0;
        int counted = 0;
        for (int s = 0; s < rows.Length; s += _batch)
        {
            int m = Math.Min(_batch, rows.Length - s);
            Forward(t, rows.Slice(s, m));
            for (int i = 0; i < m; i++)
            {
                double kl = RowLossAndGradient(rows[s + i], _logits.AsSpan(i * _n, _n), gradient: false, scale: 0);
                if (double.IsNaN(kl)) continue;
                total += kl;
                counted++;
            }
        }
        return counted > 0 ? total / counted : double.NaN;
    }

    /// <summary>Loss gradient of a minibatch with respect to A (d x d) and b (d), averaged over its rows.</summary>
    public double Gradient(Translator t, ReadOnlySpan<int> rows, float[] gA, float[] gB)
    {
        int m = rows.Length, d = _d;
        Forward(t, rows);
        int valid = 0;
        for (int i = 0; i < m; i++) if (HasTarget(rows[i])) valid++;
        float scale = valid > 0 ? 1f / valid : 0f;
        double loss = 0;
        for (int i = 0; i < m; i++)
        {
            double kl = RowLossAndGradient(rows[i], _logits.AsSpan(i * _n, _n), gradient: true, scale);
            if (!double.IsNaN(kl)) loss += kl;
        }
        // dL/du = G W_V (the logits row already holds G)
        FloatGemm.Multiply(_logits, _head.Weights.AsSpan(0, _n * d), _gu, m, d, _n, _threads);
        // RMSNorm backward: n = z / r, u = gamma * n; dz = (dn - n mean(dn * n)) / r
        for (int i = 0; i < m; i++)
        {
            var gu = _gu.AsSpan(i * d, d);
            var gz = _gz.AsSpan(i * d, d);
            var z = _z.AsSpan(i * d, d);
            float inv = _inv[i];
            TensorPrimitives.Multiply(gu, _head.Norm, gu);                    // dn
            float dot = TensorPrimitives.Dot(gu, z) * inv / d;                // mean(dn * n)
            TensorPrimitives.Multiply(z, -dot * inv, gz);                     // -n mean(dn n)
            TensorPrimitives.Add(gz, gu, gz);
            TensorPrimitives.Multiply(gz, inv, gz);
        }
        // dA = dZ^T X, db = sum of dZ rows
        FloatGemm.Transpose(_gz.AsSpan(0, m * d), _gzt, m, d);
        FloatGemm.Multiply(_gzt, _xb, gA, d, d, m, _threads);
        Array.Clear(gB);
        for (int i = 0; i < m; i++) TensorPrimitives.Add(gB, _gz.AsSpan(i * d, d), gB);
        return valid > 0 ? loss * scale : 0;
    }

    /// <summary>Fills _xb, _z (pre-norm), _inv, _u and _logits for the rows.</summary>
    private void Forward(Translator t, ReadOnlySpan<int> rows)
    {
        int m = rows.Length;
        _x.Read(rows, _xb);
        t.Apply(_xb.AsSpan(0, m * _d), _z, m, _threads);
        _head.Normalize(_z, _u, _inv, m);
        _head.Logits(_u, _logits, m, _n, _threads);
    }

    private bool HasTarget(int row)
    {
        int k = _teacher.K;
        for (int j = 0; j < k; j++)
            if (_head.IndexOf[_teacher.Ids[row * k + j]] >= 0 && _teacher.Probs[row * k + j] > 0) return true;
        return false;
    }

    /// <summary>
    /// KL(p || q) of one row from its logits; with <paramref name="gradient"/> the logits are replaced by
    /// scale (q - p). NaN when the row's target has no mass in the draft vocabulary (its gradient is zero).
    /// </summary>
    private double RowLossAndGradient(int row, Span<float> logits, bool gradient, float scale)
    {
        int k = _teacher.K;
        double mass = 0;
        for (int j = 0; j < k; j++)
            if (_head.IndexOf[_teacher.Ids[row * k + j]] >= 0) mass += _teacher.Probs[row * k + j];
        if (!(mass > 0))
        {
            if (gradient) logits.Clear();
            return double.NaN;
        }
        float max = TensorPrimitives.Max(logits);
        double sum = 0;
        for (int i = 0; i < logits.Length; i++) sum += MathF.Exp(logits[i] - max);
        double lse = max + Math.Log(sum);
        double kl = 0;
        for (int j = 0; j < k; j++)
        {
            int idx = _head.IndexOf[_teacher.Ids[row * k + j]];
            double p = _teacher.Probs[row * k + j] / mass;
            if (idx < 0 || p <= 0) continue;
            kl += p * (Math.Log(p) - (logits[idx] - lse));
        }
        if (gradient)
        {
            float shift = (float)lse;
            for (int i = 0; i < logits.Length; i++) logits[i] = scale * MathF.Exp(logits[i] - shift);
            for (int j = 0; j < k; j++)
            {
                int idx = _head.IndexOf[_teacher.Ids[row * k + j]];
                if (idx >= 0) logits[idx] -= scale * (float)(_teacher.Probs[row * k + j] / mass);
            }
        }
        return kl;
    }
}
