namespace SelfSpec.Server.Generation;

/// <summary>A job arrived while the queue was full: the client should retry later.</summary>
public sealed class QueueFullException : Exception
{
    public QueueFullException(int queued) : base($"the server is busy: {queued} requests are already waiting; retry later") => Queued = queued;

    public int Queued { get; }
}
