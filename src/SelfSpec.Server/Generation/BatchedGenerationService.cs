using System.Runtime.CompilerServices;
using SelfSpec.Decoding;

namespace SelfSpec.Server.Generation;

/// <summary>
/// Runs jobs together on a model that batches (<see cref="LanguageModel.Parallel"/> slots, continuous batching,
/// architecture.md 4): up to that many decode at once, their rows sharing every forward pass; the rest wait first come,
/// first served, at most <c>maxQueue</c> of them; the next is refused at once with <see cref="QueueFullException"/>.
/// Each job runs on a session from the pool, so a conversation's next turn reuses its cache. A job's output is the
/// same whatever else runs (architecture.md 2.1).
/// </summary>
internal sealed class BatchedGenerationService : IGenerationService
{
    private readonly LanguageModel _model;
    private readonly SessionPool _sessions;
    private readonly int _maxQueue;
    private int _admitted; // waiting + running

    public BatchedGenerationService(LanguageModel model, SessionPool sessions, int maxQueue)
    {
        if (model.Parallel < 1) throw new ArgumentException("the model does not batch: load it with ModelLoadOptions.Parallel above 0", nameof(model));
        _model = model;
        _sessions = sessions;
        _maxQueue = maxQueue;
    }

    public int Waiting => Math.Max(0, Volatile.Read(ref _admitted) - Running);
    public int Running => _model.ActiveGenerations;

    public async IAsyncEnumerable<GenerationUpdate> GenerateAsync(GenerationJob job, [EnumeratorCancellation] CancellationToken cancellation)
    {
        if (Interlocked.Increment(ref _admitted) > _model.Parallel + _maxQueue)
        {
            Interlocked.Decrement(ref _admitted);
            throw new QueueFullException(_maxQueue);
        }
        try
        {
            var session = _sessions.Rent(job.Prompt);
            try
            {
                await foreach (var u in session.GenerateAsync(job.Prompt, job.Options, cancellation).ConfigureAwait(false))
                    yield return u;
            }
            finally
            {
                _sessions.Return(session);
            }
        }
        finally
        {
            Interlocked.Decrement(ref _admitted);
        }
    }
}
