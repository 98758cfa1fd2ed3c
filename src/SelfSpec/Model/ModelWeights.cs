using SelfSpec.Gguf;
using SelfSpec.Model.Architectures;

namespace SelfSpec.Model;

/// <summary>
/// All tensors of a model, bound to the memory-mapped file (matrices in place; only the small norm and
/// bias vectors are copied out, as float). Immutable: decoding state lives in <see cref="KvCache"/>.
/// </summary>
internal sealed class ModelWeights
{
    public required ModelConfig Config { get; init; }
    public required WeightMatrix TokenEmbedding { get; init; }   // (vocab rows of embd)
    public required LayerWeights[] Layers { get; init; }
    public required float[] OutputNorm { get; init; }            // (embd)
    /// <summary>The output head: its own tensor, or the token embedding when tied.</summary>
    public required WeightMatrix Output { get; init; }           // (embd -> vocab)
    public bool OutputTied { get; init; }
    /// <summary>Divisors of the rotary frequencies, one per rotary pair (rope_freqs.weight; LongRoPE's short factors), when the model has them.</summary>
    public float[]? RopeFrequencyFactors { get; init; }          // (ropeDim / 2)
    /// <summary>LongRoPE's factors for contexts past <see cref="Architectures.BlockRecipe.LongRopeFromContext"/>.</summary>
    public float[]? LongRopeFrequencyFactors { get; init; }      // (ropeDim / 2)

    /// <summary>Binds the file's tensors; <paramref name="pack"/> also repacks layer matrices whose type has a fast packed layout.</summary>
    /// <param name="workers">
    /// threads that bind and pack at once: the layers and the head are independent, and packing a model of a billion
    /// weights on one core took most of its load time (Llama-3.2-1B's shape: 2.9 s of 3.1)
    /// </param>
    public static ModelWeights Load(GgufFile file, ModelConfig config, bool pack = true, int workers = 1)
    {
        var architecture = ArchitectureRegistry.Find(config.Architecture);
        var tensors = new TensorReader(file, pack);
        int embd = config.EmbeddingDim;
        bool tied = config.Recipe.TiedOutput || !tensors.Has("output.weight");
        var layers = new LayerWeights[config.LayerCount];
        WeightMatrix output = default;
        // Item 0 is the head, the largest, so it starts first; then the layers in order.
        ForEachInParallel(layers.Length + 1, workers, () => new TensorReader(file, pack), (reader, item) =>
        {
            if (item == 0) output = reader.Matrix(tied ? "token_embd.weight" : "output.weight", embd, config.VocabSize);
            else layers[item - 1] = architecture.ReadLayer(reader, item - 1, config);
        });
        var embedding = WeightMatrix.FromTensor(file, "token_embd.weight", embd, config.VocabSize);
        var (shortFactors, longFactors) = architecture.ReadRopeFactors(tensors, config);
        // The head is packed on its own; Embed reads the embedding's few rows a step from the file (WeightMatrix.ReadRow).
        var weights = new ModelWeights
        {
            Config = config,
            TokenEmbedding = embedding,
            Layers = layers,
            OutputNorm = tensors.Vector("output_norm.weight", embd),
            Output = output,
            OutputTied = tied,
            RopeFrequencyFactors = shortFactors,
            LongRopeFrequencyFactors = longFactors,
        };
        // The file bytes the packed copies were made from are garbage now; one compacting collection hands their
        // memory back to the system, so resident memory stays near the file's size (architecture.md, "memory").
        if (pack) GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        return weights;
    }

    /// <summary>
    /// Runs body(state, item) for items 0..count-1 on up to <paramref name="workers"/> threads (the caller's among
    /// them), each taking the next item as it finishes one, with a state of its own. When items fail, the lowest
    /// item's exception is thrown as it was (not wrapped), so a bad file names the same tensor whatever the threads.
    /// Items are taken in order, so once one fails no thread takes another: every item below it is already taken, and
    /// a bad file is refused without packing the rest of it.
    /// </summary>
    private static void ForEachInParallel<TState>(int count, int workers, Func<TState> state, Action<TState, int> body)
    {
        int next = -1, failedAt = int.MaxValue;
        Exception? failure = null;
        var gate = new Lock();
        void Work()
        {
            var s = state();
            for (int item; (item = Interlocked.Increment(ref next)) < count && Volatile.Read(ref failedAt) == int.MaxValue;)
            {
                try
                {
                    body(s, item);
                }
                catch (Exception e)
                {
                    lock (gate)
                        if (item < failedAt) (failedAt, failure) = (item, e);
                }
            }
        }
        var helpers = new Thread[Math.Clamp(workers, 1, count) - 1];
        for (int i = 0; i < helpers.Length; i++)
        {
            helpers[i] = new Thread(Work) { IsBackground = true, Name = "SelfSpec load" };
            helpers[i].Start();
        }
        Work();
        foreach (var t in helpers) t.Join();
        if (failure != null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
    }

    /// <summary>Bytes held beside the mapped file by the packed copies.</summary>
    public long PackedBytes => Layers.Sum(l => l.Matrices.Sum(m => m.Packed?.ByteSize ?? 0)) + (Output.Packed?.ByteSize ?? 0);
}
