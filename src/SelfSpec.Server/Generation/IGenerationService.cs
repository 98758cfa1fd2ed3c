using SelfSpec.Decoding;

namespace SelfSpec.Server.Generation;

/// <summary>
/// The one seam between the HTTP layer and the engine. The HTTP layer turns a request into a <see cref="GenerationJob"/>
/// and reads the updates; how jobs share the model (one at a time today, continuous batching later) is the service's
/// business alone.
/// </summary>
public interface IGenerationService
{
    /// <summary>Jobs admitted and not yet running.</summary>
    int Waiting { get; }

    /// <summary>Jobs running now.</summary>
    int Running { get; }

    /// <summary>
    /// Streams the job's updates, ending with the one that carries the result. Throws <see cref="QueueFullException"/>
    /// from the first <c>MoveNextAsync</c> when the job cannot even wait, and <see cref="InvalidRequestException"/>
    /// when the model refuses it. Cancelling ends the generation within one decode step.
    /// </summary>
    IAsyncEnumerable<GenerationUpdate> GenerateAsync(GenerationJob job, CancellationToken cancellation);
}
