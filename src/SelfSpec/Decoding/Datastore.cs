namespace SelfSpec.Decoding;

/// <summary>
/// The model's own earlier output as a draft source (architecture.md 5, the datastore): the calibration run's
/// generations (from the sidecar) and, in a long-lived process, the latest answers of this model. A generation
/// takes a snapshot when it starts, so answers that finish meanwhile never change a running generation; what a
/// snapshot holds only changes which drafts are proposed, never what is committed (the verifier decides that).
/// </summary>
internal sealed class Datastore(int vocab, int capacity)
{
    /// <summary>Answers kept by default (the newest); each is scanned whole by a search, so this bounds its cost.</summary>
    public const int DefaultCapacity = 64;

    private readonly Lock _gate = new();
    private readonly Queue<TokenStore> _answers = new();
    private TokenStore? _calibration;
    private TokenStore[] _snapshot = [];

    /// <summary>How many answers are kept (0: none).</summary>
    public int Capacity => capacity;

    /// <summary>Whether finished answers are remembered (the bench turns this off and adds one answer per question itself).</summary>
    public bool Recording { get; set; } = true;

    /// <summary>The stores a generation starting now searches: newest answer first, the calibration's last.</summary>
    public TokenStore[] Snapshot => Volatile.Read(ref _snapshot);

    /// <summary>The calibration's generations (separated by <see cref="TokenStore.Separator"/>), or null/empty for none.</summary>
    public void SetCalibration(int[]? tokens)
    {
        lock (_gate)
        {
            _calibration = tokens is { Length: > 1 } ? new TokenStore(tokens, vocab) : null;
            Publish();
        }
    }

    /// <summary>Remembers a finished answer when <see cref="Recording"/> (answers of fewer than two tokens hold no match).</summary>
    public void Remember(ReadOnlySpan<int> output)
    {
        if (Recording) Add(output);
    }

    /// <summary>Remembers an answer whether or not <see cref="Recording"/>.</summary>
    public void Add(ReadOnlySpan<int> output)
    {
        if (capacity == 0 || output.Length < 2) return;
        var store = new TokenStore(output.ToArray(), vocab);
        lock (_gate)
        {
            _answers.Enqueue(store);
            while (_answers.Count > capacity) _answers.Dequeue();
            Publish();
        }
    }

    /// <summary>Forgets the remembered answers (the calibration's generations stay).</summary>
    public void ClearAnswers()
    {
        lock (_gate)
        {
            _answers.Clear();
            Publish();
        }
    }

    private void Publish()
    {
        var stores = _answers.Reverse().ToList();
        if (_calibration != null) stores.Add(_calibration);
        Volatile.Write(ref _snapshot, [.. stores]);
    }
}
