using System.Runtime.CompilerServices;

namespace SelfSpec.Threading;

/// <summary>A unit of parallel work: each worker of the pool does its share.</summary>
internal interface IParallelWork
{
    void Execute(int worker, int workers);
}

/// <summary>
/// Persistent worker threads for the kernels. The calling thread is worker 0 and takes part; the others
/// spin briefly on a generation counter (a decode step issues hundreds of small jobs, too short to pay for
/// a kernel wait each time), then fall back to blocking so an idle engine costs no CPU.
/// Work items are preallocated objects, so a dispatch allocates nothing.
/// </summary>
internal sealed class WorkerPool : IDisposable
{
    // How long an idle worker spins before blocking: long enough to bridge the gaps between the jobs of one
    // decode step (microseconds), short enough not to starve other processes on an oversubscribed machine.
    private static readonly long SpinTicks = System.Diagnostics.Stopwatch.Frequency / 10_000; // 100 us

    private readonly Thread[] _threads;
    private readonly SemaphoreSlim[] _wake;
    private readonly int[] _sleeping;
    private IParallelWork? _work;
    private long _generation;
    private int _pending;
    private volatile bool _disposed;

    public int ThreadCount { get; }

    public WorkerPool(int threads)
    {
        if (threads < 1) throw new ArgumentOutOfRangeException(nameof(threads), "thread count must be at least 1");
        ThreadCount = threads;
        _threads = new Thread[threads - 1];
        _wake = new SemaphoreSlim[threads - 1];
        _sleeping = new int[threads - 1];
        for (int i = 0; i < _threads.Length; i++)
        {
            _wake[i] = new SemaphoreSlim(0);
            int index = i + 1;
            _threads[i] = new Thread(() => WorkerLoop(index)) { IsBackground = true, Name = $"selfspec-worker-{index}" };
            _threads[i].Start();
        }
    }

    /// <summary>Runs <paramref name="work"/> on every thread (the caller included) and waits for all.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Run(IParallelWork work)
    {
        if (ThreadCount == 1)
        {
            work.Execute(0, 1);
            return;
        }
        _work = work;
        Volatile.Write(ref _pending, ThreadCount - 1);
        Interlocked.Increment(ref _generation);
        for (int i = 0; i < _sleeping.Length; i++)
        {
            // Read before exchanging: the exchange writes the line the sleeping flags share, on every dispatch.
            // Safe against a worker falling asleep now: it announces sleep with a full fence and then re-reads the
            // generation, which the increment above has already fenced.
            if (Volatile.Read(ref _sleeping[i]) == 1 && Interlocked.Exchange(ref _sleeping[i], 0) == 1) _wake[i].Release();
        }
        work.Execute(0, ThreadCount);
        WaitForWorkers();
        _work = null;
    }

    /// <summary>
    /// Waits for the workers' shares of the current job in a tight spin. The workers are running the job, so the
    /// wait lasts at most the longest share; SpinWait's backoff (pauses doubling up to microseconds, then yields)
    /// overshot each short wait by about as long again, and a forward pass of several rows waits some 300 times:
    /// measured on SmolLM2-135M at 2 threads, it made a two-row pass cost 1.21x one row instead of ~1.05x. Past
    /// <see cref="SpinTicks"/> the caller yields between checks, so a worker descheduled on a busy machine gets a core.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void WaitForWorkers()
    {
        if (Volatile.Read(ref _pending) == 0) return;
        long yieldFrom = System.Diagnostics.Stopwatch.GetTimestamp() + SpinTicks;
        int spins = 0;
        bool yielding = false;
        while (Volatile.Read(ref _pending) != 0)
        {
            if (yielding) Thread.Yield();
            else if ((++spins & 255) == 0) yielding = System.Diagnostics.Stopwatch.GetTimestamp() > yieldFrom;
            else Thread.SpinWait(1);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void WorkerLoop(int index)
    {
        long seen = 0;
        while (true)
        {
            long generation;
            int spins = 0;
            long spinUntil = System.Diagnostics.Stopwatch.GetTimestamp() + SpinTicks;
            while ((generation = Volatile.Read(ref _generation)) == seen)
            {
                if (_disposed) return;
                // A tight spin, the clock read every 64 checks: the next dispatch of a pass comes within microseconds
                // and a worker late to see it delays the whole job. Yield now and then so a descheduled dispatcher on a
                // busy machine gets the core back.
                if ((++spins & 63) != 0)
                {
                    Thread.SpinWait(1);
                    continue;
                }
                if (System.Diagnostics.Stopwatch.GetTimestamp() < spinUntil)
                {
                    if ((spins & 4095) == 0) Thread.Yield();
                    continue;
                }
                // Announce sleep (a full fence), then re-check, so a dispatch between the check and the flag is not missed.
                Interlocked.Exchange(ref _sleeping[index - 1], 1);
                if (Volatile.Read(ref _generation) != seen || _disposed)
                {
                    if (Interlocked.Exchange(ref _sleeping[index - 1], 0) == 0) _wake[index - 1].Wait();
                    continue;
                }
                _wake[index - 1].Wait();
                spinUntil = System.Diagnostics.Stopwatch.GetTimestamp() + SpinTicks;
            }
            seen = generation;
            _work!.Execute(index, ThreadCount);
            Interlocked.Decrement(ref _pending);
        }
    }

    /// <summary>The [start, end) share of <paramref name="count"/> items for one worker, in fixed contiguous chunks.</summary>
    public static (int Start, int End) Split(int count, int worker, int workers, int granularity = 1)
    {
        int units = (count + granularity - 1) / granularity;
        int start = (int)((long)units * worker / workers) * granularity;
        int end = (int)((long)units * (worker + 1) / workers) * granularity;
        return (Math.Min(start, count), Math.Min(end, count));
    }

    public void Dispose()
    {
        _disposed = true;
        for (int i = 0; i < _wake.Length; i++)
        {
            Interlocked.Exchange(ref _sleeping[i], 0);
            _wake[i].Release();
        }
        foreach (var t in _threads) t.Join();
        foreach (var s in _wake) s.Dispose();
    }
}
