using SelfSpec.Kernels;
using SelfSpec.Model;
using SelfSpec.Quantization;
using SelfSpec.Threading;

namespace SelfSpec.Decoding;

/// <summary>
/// An exit head from calibration: at each calibrated layer a translator z = A h + b (A quantized to
/// Q8_0 once here, so a check reads a third of a megabyte), the model's final norm, and the output head's rows of the
/// draft vocabulary only (copied once into one contiguous matrix in the head's own type). Layers without a
/// translator use A = I, b = 0 on the same draft vocabulary. Both products run on the engine's MatMul kernels.
/// </summary>
internal sealed class CalibratedExitHead : IExitHead
{
    private const GgmlType TranslatorType = GgmlType.Q8_0;

    private readonly Transformer _model;
    private readonly int _embd;
    private readonly byte[]?[] _translators;   // by layer: (embd rows of Q8_0 bytes) or null
    private readonly float[]?[] _biases;       // by layer: (embd)
    private readonly GgmlType _headType;
    private readonly byte[] _head;             // (draft rows of the output matrix's row bytes)
    private readonly int[] _tokens;            // (draft) vocabulary ids
    private readonly float[] _z, _u;           // (embd)
    private readonly byte[] _act;              // one quantized activation row
    private readonly ProductJob _job = new();

    /// <param name="model">the model whose output head and final norm the head uses</param>
    /// <param name="translators">per calibrated layer: A (embd x embd, row-major) and b (embd)</param>
    /// <param name="draftTokens">the draft vocabulary (distinct ids)</param>
    public CalibratedExitHead(Transformer model, IEnumerable<(int Layer, float[] A, float[] B)> translators, int[] draftTokens)
    {
        _model = model;
        var c = model.Config;
        _embd = c.EmbeddingDim;
        _translators = new byte[]?[c.LayerCount + 1];
        _biases = new float[]?[c.LayerCount + 1];
        int rowBytes = (int)GgmlTypeInfo.RowBytes(TranslatorType, _embd);
        foreach (var (layer, a, b) in translators)
        {
            if (layer < 1 || layer >= c.LayerCount || a.Length != _embd * _embd || b.Length != _embd)
                throw new ArgumentException($"translator for layer {layer} does not fit a model of {c.LayerCount} layers and width {_embd}");
            var q = new byte[rowBytes * _embd];
            for (int r = 0; r < _embd; r++) Quantize.Row(TranslatorType, a.AsSpan(r * _embd, _embd), q.AsSpan(r * rowBytes, rowBytes));
            _translators[layer] = q;
            _biases[layer] = b;
        }
        var output = model.Weights.Output;
        _headType = output.Type;
        _tokens = draftTokens;
        _head = new byte[(long)output.RowBytes * draftTokens.Length];
        for (int i = 0; i < draftTokens.Length; i++)
        {
            if ((uint)draftTokens[i] >= (uint)c.VocabSize) throw new ArgumentException($"draft token {draftTokens[i]} is outside the vocabulary");
            output.ReadRow(draftTokens[i], _head.AsSpan(i * output.RowBytes, output.RowBytes));
        }
        _z = new float[_embd];
        _u = new float[_embd];
        _act = new byte[Math.Max(MatMul.ActivationRowBytes(TranslatorType, _embd), MatMul.ActivationRowBytes(_headType, _embd))];
    }

    public int DraftVocabSize => _tokens.Length;

    public IReadOnlyList<int> DraftTokens => _tokens;

    /// <summary>Whether <paramref name="layer"/> has a fitted translator.</summary>
    public bool HasTranslator(int layer) => (uint)layer < (uint)_translators.Length && _translators[layer] != null;

    public void Logits(int depth, ReadOnlySpan<float> hidden, float[] draftLogits)
    {
        ReadOnlySpan<float> z = hidden;
        if (HasTranslator(depth))
        {
            Product(TranslatorType, _translators[depth]!, hidden, _z, _embd);
            System.Numerics.Tensors.TensorPrimitives.Add(_z, _biases[depth]!, _z);
            z = _z;
        }
        _model.FinalNorm(z, _u);
        Product(_headType, _head, _u, draftLogits, _tokens.Length);
        _model.FinishLogits(draftLogits.AsSpan(0, _tokens.Length));
    }

    public int Token(int index) => _tokens[index];

    public void Expand(ReadOnlySpan<float> draftLogits, Span<float> logits)
    {
        logits.Fill(float.NegativeInfinity);
        for (int i = 0; i < _tokens.Length; i++) logits[_tokens[i]] = draftLogits[i];
    }

    /// <summary>output (rows) = W x for one row x, W rows of <paramref name="type"/>, split across the pool by output rows.</summary>
    private void Product(GgmlType type, byte[] weights, ReadOnlySpan<float> x, float[] output, int rows)
    {
        MatMul.QuantizeActivations(type, x, 1, _embd, _act);
        _job.Set(type, weights, _embd, _act, output, rows);
        _model.Pool.Run(_job);
    }

    private sealed class ProductJob : IParallelWork
    {
        private GgmlType _type;
        private byte[] _weights = [], _act = [];
        private float[] _output = [];
        private int _inDim, _rows;

        public void Set(GgmlType type, byte[] weights, int inDim, byte[] act, float[] output, int rows)
        {
            (_type, _weights, _inDim, _act, _output, _rows) = (type, weights, inDim, act, output, rows);
        }

        public void Execute(int worker, int workers)
        {
            var (start, end) = WorkerPool.Split(_rows, worker, workers, 16);
            if (start >= end) return;
            MatMul.Rows(_type, _weights, _inDim, _act, 1, _output.AsSpan(0, _rows), _rows, start, end);
        }
    }
}
