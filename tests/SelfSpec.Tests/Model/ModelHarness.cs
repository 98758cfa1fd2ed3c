using SelfSpec.Gguf;
using SelfSpec.Model;
using SelfSpec.Threading;

namespace SelfSpec.Tests.Model;

/// <summary>A model's transformer opened directly, for tests that drive the forward pass step by step.</summary>
internal sealed class ModelHarness : IDisposable
{
    public GgufFile File { get; }
    public ModelConfig Config { get; }
    public Transformer Transformer { get; }
    private readonly WorkerPool _pool;

    /// <param name="loadWorkers">threads that bind and pack the weights (<see cref="ModelWeights.Load"/>)</param>
    public ModelHarness(string path, int threads, int maxBatch = 64, int loadWorkers = 1)
    {
        File = GgufFile.Open(path);
        try
        {
            Config = ModelConfig.FromGguf(File);
            var weights = ModelWeights.Load(File, Config, workers: loadWorkers);
            _pool = new WorkerPool(threads);
            Transformer = new Transformer(weights, _pool, maxBatch, Config.ContextLength);
        }
        catch
        {
            File.Dispose();
            throw;
        }
    }

    /// <summary>Runs tokens through all layers in chunks of the given sizes (cycled); returns hidden states (n x embd) and logits (n x vocab).</summary>
    public (float[] Hidden, float[] Logits) Run(int[] tokens, int[] chunkSizes, int splitLayer = -1)
    {
        int d = Config.EmbeddingDim, v = Config.VocabSize;
        var cache = new KvCache(Config, Math.Min(Config.ContextLength, tokens.Length + 1));
        var hidden = new float[tokens.Length * d];
        var logits = new float[tokens.Length * v];
        var rowLogits = new float[Transformer.MaxBatch * v];
        int start = 0, chunk = 0;
        while (start < tokens.Length)
        {
            int n = Math.Min(chunkSizes[chunk++ % chunkSizes.Length], tokens.Length - start);
            var positions = Enumerable.Range(start, n).ToArray();
            var h = hidden.AsSpan(start * d, n * d);
            Transformer.Embed(tokens.AsSpan(start, n), h);
            if (splitLayer > 0)
            {
                Transformer.Forward(positions, h, 0, splitLayer, cache);
                Transformer.Forward(positions, h, splitLayer, Config.LayerCount, cache);
            }
            else
            {
                Transformer.Forward(positions, h, 0, Config.LayerCount, cache);
            }
            cache.Commit(start + n);
            Transformer.FinalLogits(h, n, rowLogits);
            rowLogits.AsSpan(0, n * v).CopyTo(logits.AsSpan(start * v));
            start += n;
        }
        return (hidden, logits);
    }

    public void Dispose()
    {
        _pool.Dispose();
        File.Dispose();
    }
}
