using System.Runtime.ExceptionServices;
using System.Threading.Channels;
using SelfSpec.Decoding;

namespace SelfSpec.Batching;

/// <summary>
/// Continuous batching (architecture.md 4): one engine thread owns the forward pass of a model and runs, step after
/// step, one <see cref="SharedPass"/> over the rows of every active sequence. At most <see cref="Slots"/> sequences are
/// active; later ones wait first come, first served and join at the next step once a slot frees. A sequence that
/// finishes, stops or is cancelled leaves at the end of the step it is in (cancellation is seen at the next step).
/// A joining sequence prefills in chunks of at most <see cref="ChunkUnderLoad"/> rows while others decode, so it
/// stalls them by one chunk's cost a step, never by its whole prompt.
///
/// Output never depends on load: every row's logits are the bits it would get alone (architecture.md 2.1), and each
/// sequence decides with its own sampler and bound (<see cref="BatchedSequence"/>).
/// </summary>
internal sealed class Scheduler : IDisposable
{
    /// <summary>The most prompt rows a joining sequence adds to a step that others decode in.</summary>
    public const int ChunkUnderLoad = 16;

    private readonly LanguageModel _model;
    private readonly SharedPass _pass;
    private readonly object _sync = new();
    private readonly Queue<Job> _waiting = new();
    private readonly List<Job> _active = [];
    private readonly List<Job> _planned = [];
    private readonly List<Job> _leaving = [];
    private readonly Thread _thread;
    private bool _disposed;
    private int _activeCount, _waitingCount;

    public Scheduler(LanguageModel model, int slots)
    {
        if (slots < 1 || slots > model.Transformer.MaxBatch)
            throw new InvalidRequestException($"parallel sequences {slots} must be between 1 and {model.Transformer.MaxBatch}");
        _model = model;
        Slots = slots;
        _pass = new SharedPass(model.Transformer, model.Costs);
        _thread = new Thread(Loop) { IsBackground = true, Name = "selfspec-scheduler" };
        _thread.Start();
    }

    /// <summary>Sequences that may decode together.</summary>
    public int Slots { get; }
    /// <summary>Sequences in a slot now.</summary>
    public int Active => Volatile.Read(ref _activeCount);
    /// <summary>Sequences waiting for a slot.</summary>
    public int Waiting => Volatile.Read(ref _waitingCount);
    /// <summary>Passes run so far, and those that carried rows of more than one sequence (tests read them).</summary>
    public long Passes { get; private set; }
    public long SharedPasses { get; private set; }

    /// <summary>Queues a generation; its updates arrive on the job's channel.</summary>
    public Job Submit(SessionRun run, CancellationToken cancellation)
    {
        var sequence = run.Loop as BatchedSequence ?? throw new ArgumentException("the run was not prepared for the scheduler", nameof(run));
        var job = new Job(this, run, sequence);
        lock (_sync)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _waiting.Enqueue(job);
            _waitingCount = _waiting.Count;
            Monitor.PulseAll(_sync);
        }
        job.Watch(cancellation);
        return job;
    }

    private void Wake()
    {
        lock (_sync) Monitor.PulseAll(_sync);
    }

    private void Loop()
    {
        while (true)
        {
            lock (_sync)
            {
                while (!_disposed && _active.Count == 0 && _waiting.Count == 0) Monitor.Wait(_sync);
                if (_disposed) break;
                // Waiting jobs cancelled before they got a slot leave without a pass; then first come, first served.
                int waiting = _waiting.Count;
                for (int i = 0; i < waiting; i++)
                {
                    var job = _waiting.Dequeue();
                    if (job.CancelRequested) _leaving.Add(job);
                    else if (_active.Count < Slots) _active.Add(job);
                    else _waiting.Enqueue(job);
                }
                _waitingCount = _waiting.Count;
                _activeCount = _active.Count;
            }
            foreach (var job in _leaving) Leave(job, cancelled: true);
            _leaving.Clear();
            Step();
        }
        // Disposed: nothing more runs; whoever waits is told.
        List<Job> left;
        lock (_sync)
        {
            left = [.. _active, .. _waiting];
            _active.Clear();
            _waiting.Clear();
            _activeCount = _waitingCount = 0;
        }
        foreach (var job in left) Fail(job, new ObjectDisposedException(nameof(LanguageModel), "the model was disposed during the generation"));
    }

    /// <summary>One step: cancelled sequences leave, every other active sequence brings rows, one pass, each commits.</summary>
    private void Step()
    {
        for (int i = _active.Count - 1; i >= 0; i--)
            if (_active[i].CancelRequested) Leave(_active[i], cancelled: true);
        if (_active.Count == 0) return;

        // Decoding sequences first (their rows are one token each, or a few drafts), then prompts in the room left.
        _pass.Clear();
        _planned.Clear();
        int later = _active.Count;
        bool others = _active.Count > 1;
        foreach (bool prefilling in (ReadOnlySpan<bool>)[false, true])
            foreach (var job in _active)
            {
                if (job.Sequence.Prefilling != prefilling) continue;
                later--;
                int budget = _pass.Capacity - _pass.Rows - later; // a row kept for each sequence still to plan
                if (prefilling && others) budget = Math.Min(budget, ChunkUnderLoad);
                if (budget < 1) continue;
                job.Sequence.Plan(_pass, budget, _pass.Rows + later, _pass.LogitRows + later, _active.Count - 1);
                _planned.Add(job);
            }
        try
        {
            // The gate keeps anything else that uses the transformer's scratch (calibration) out of the pass.
            lock (_model.Gate) _pass.Run();
            Passes++;
            if (_planned.Count > 1) SharedPasses++;
        }
        catch (Exception e)
        {
            foreach (var job in _planned) Fail(job, e);
            return;
        }
        foreach (var job in _planned)
        {
            bool go;
            try
            {
                go = job.Sequence.Complete(_pass);
                while (job.Run.TryNext(out var update))
                    if (job.Run.Streaming) job.Updates.Writer.TryWrite(update);
            }
            catch (Exception e)
            {
                Fail(job, e);
                continue;
            }
            if (!go || job.Run.Stopped) Leave(job, cancelled: false);
        }
        _pass.Clear();
    }

    /// <summary>Ends a job: its final update (the result), then its channel closes and its slot frees.</summary>
    private void Leave(Job job, bool cancelled)
    {
        Remove(job);
        try
        {
            if (cancelled) job.Run.Cancel();
            job.Updates.Writer.TryWrite(job.Run.Finish());
            job.Updates.Writer.TryComplete();
        }
        catch (Exception e)
        {
            job.Run.Fail();
            job.Updates.Writer.TryComplete(e);
        }
        job.End();
    }

    private void Fail(Job job, Exception e)
    {
        Remove(job);
        job.Run.Fail();
        job.Updates.Writer.TryComplete(e);
        job.End();
    }

    private void Remove(Job job)
    {
        lock (_sync)
        {
            _active.Remove(job);
            _activeCount = _active.Count;
        }
    }

    public void Dispose()
    {
        lock (_sync)
        {
            if (_disposed) return;
            _disposed = true;
            Monitor.PulseAll(_sync);
        }
        if (Thread.CurrentThread != _thread) _thread.Join();
    }

    /// <summary>A generation handed to the scheduler: its updates, and when the scheduler is done with its cache.</summary>
    internal sealed class Job(Scheduler owner, SessionRun run, BatchedSequence sequence)
    {
        private readonly TaskCompletionSource _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private CancellationTokenRegistration _registration;
        private volatile bool _cancel;

        public SessionRun Run { get; } = run;
        public BatchedSequence Sequence { get; } = sequence;
        /// <summary>Streamed updates (only the final one when the run does not stream), then completion or the failure.</summary>
        public Channel<GenerationUpdate> Updates { get; } = Channel.CreateUnbounded<GenerationUpdate>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        /// <summary>Completes once the scheduler no longer touches the sequence or its cache.</summary>
        public Task Ended => _ended.Task;
        public bool CancelRequested => _cancel;

        public void Watch(CancellationToken cancellation)
        {
            if (cancellation.CanBeCanceled) _registration = cancellation.Register(static j => ((Job)j!).Cancel(), this);
        }

        /// <summary>Asks the scheduler to end the generation at its next step (a waiting one leaves the queue).</summary>
        public void Cancel()
        {
            if (_cancel) return;
            _cancel = true;
            owner.Wake();
        }

        public void End()
        {
            _registration.Dispose();
            _ended.TrySetResult();
        }

        /// <summary>Waits for the end and returns the final update; rethrows the failure that ended it.</summary>
        public GenerationUpdate WaitForResult()
        {
            Ended.GetAwaiter().GetResult();
            GenerationUpdate last = default;
            while (Updates.Reader.TryRead(out var u)) last = u;
            var completion = Updates.Reader.Completion;
            if (completion.IsFaulted) ExceptionDispatchInfo.Capture(completion.Exception!.InnerException!).Throw();
            return last;
        }
    }
}
