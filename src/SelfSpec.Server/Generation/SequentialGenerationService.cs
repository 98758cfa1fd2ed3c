using System.Runtime.CompilerServices;
using SelfSpec.Decoding;

namespace SelfSpec.Server.Generation;

/// <summary>
/// Runs jobs one at a time, in arrival order, each on the session the library's <see cref="SessionPool"/> chooses. At most <c>maxQueue</c> jobs wait behind
/// the running one; the next is refused at once with <see cref="QueueFullException"/>.
/// </summary>
internal sealed class SequentialGenerationService : IGenerationService, IDisposable
{
    private readonly SessionPool _sessions;
    private readonly int _maxQueue;
    private readonly SemaphoreSlim _turn = new(1, 1);
    private int _admitted; // waiting + running
    private int _running;

    public SequentialGenerationService(SessionPool sessions, int maxQueue)
    {
        _sessions = sessions;
        _maxQueue = maxQueue;
    }

    public int Waiting => Math.Max(0, Volatile.Read(ref _admitted) - Volatile.Read(ref _running));
    public int Running => Volatile.Read(ref _running);

    public async IAsyncEnumerable<GenerationUpdate> GenerateAsync(GenerationJob job, [EnumeratorCancellation] CancellationToken cancellation)
    {
        if (Interlocked.Increment(ref _admitted) > _maxQueue + 1)
        {
            Interlocked.Decrement(ref _admitted);
            throw new QueueFullException(_maxQueue);
        }
        try
        {
            await _turn.WaitAsync(cancellation).ConfigureAwait(false);
            Interlocked.Increment(ref _running);
            try
            {
                // The library's session choice, the same as LanguageModelChatClient's.
                await foreach (var u in _sessions.GenerateAsync(job.Prompt, job.Options, cancellation).ConfigureAwait(false))
                    yield return u;
            }
            finally
            {
                Interlocked.Decrement(ref _running);
                _turn.Release();
            }
        }
        finally
        {
            Interlocked.Decrement(ref _admitted);
        }
    }

    public void Dispose() => _turn.Dispose();
}
