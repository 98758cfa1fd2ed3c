using System.Runtime.CompilerServices;
using SelfSpec.Sampling;

namespace SelfSpec.Decoding;

/// <summary>
/// Accepts drafts left to right against the full model's logits (verification; lossless sampling).
/// Greedy: a draft is accepted when it equals the token plain decoding would choose there. Sampling: a draft x drawn
/// from q is accepted with probability min(1, p(x) / q(x)); the first rejection resamples from norm(max(0, p - q));
/// when every draft is accepted a bonus token is drawn from p. p is the sampler's exact distribution given the
/// tokens before the position, so the output distribution equals the model's.
/// </summary>
internal sealed class Verifier
{
    private readonly Sampler _sampler;
    private readonly AcceptanceRule _rule;
    private readonly int _vocab;
    private readonly float[] _p, _residual;

    public Verifier(Sampler sampler, AcceptanceRule rule, int vocab)
    {
        _sampler = sampler;
        _rule = rule;
        _vocab = vocab;
        _p = new float[vocab];
        _residual = new float[vocab];
    }

    /// <summary>
    /// Rows 0..drafts of <paramref name="logits"/> (vocab each) are the full model's logits at the round's positions;
    /// <paramref name="sequence"/> is the committed tokens followed by the drafts, the first draft at <paramref name="firstDraft"/>.
    /// <paramref name="q"/> row i is the distribution draft i+1 was drawn from, unless <paramref name="oneHot"/>[i]
    /// (a copied draft: q is one-hot). Returns how many drafts are accepted and the correction or bonus token.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public (int Accepted, int Next) Accept(ReadOnlySpan<float> logits, int drafts, ReadOnlySpan<int> sequence, int firstDraft,
        ReadOnlySpan<float> q, ReadOnlySpan<bool> oneHot)
    {
        int v = _vocab;
        bool greedy = _sampler.Options.IsGreedy;
        for (int i = 0; i <= drafts; i++)
        {
            var row = logits.Slice(i * v, v);
            var history = sequence[..(firstDraft + i)];
            if (i == drafts) return (i, _sampler.Sample(row, history));
            int x = sequence[firstDraft + i];
            if (_rule == AcceptanceRule.AlwaysAccept) continue;
            if (greedy)
            {
                int t = _sampler.Sample(row, history);
                if (t != x) return (i, t);
                continue;
            }
            _sampler.Distribution(row, history, _p);
            float qx = oneHot[i] ? 1f : q[i * v + x];
            if (_sampler.NextUniform() * qx < _p[x]) continue;
            if (_rule == AcceptanceRule.ResampleFromP) return (i, _sampler.Draw(_p));
            // Rejected: resample from the residual max(0, p - q).
            if (oneHot[i])
            {
                _p.AsSpan().CopyTo(_residual);
                _residual[x] = 0f;
            }
            else
            {
                var qi = q.Slice(i * v, v);
                for (int t = 0; t < v; t++) _residual[t] = MathF.Max(0f, _p[t] - qi[t]);
            }
            return (i, DrawResidual());
        }
        throw new InvalidOperationException("unreachable");
    }

    private int DrawResidual()
    {
        // p and q can agree to rounding everywhere; then the rejection had probability ~0 and p itself is the answer.
        double total = 0;
        foreach (float r in _residual) total += r;
        return total > 0 ? _sampler.Draw(_residual) : _sampler.Draw(_p);
    }
}
