using System.Runtime.CompilerServices;
using SelfSpec.Decoding;
using SelfSpec.Server.Generation;

namespace SelfSpec.Server.Tests.Server;

/// <summary>A generation service that breaks: at once, or after handing out <c>updatesFirst</c> updates.</summary>
internal sealed class FailingGeneration(int updatesFirst) : IGenerationService
{
    public int Waiting => 0;
    public int Running => 0;

    public async IAsyncEnumerable<GenerationUpdate> GenerateAsync(GenerationJob job, [EnumeratorCancellation] CancellationToken cancellation)
    {
        for (int i = 0; i < updatesFirst; i++)
        {
            await Task.Yield();
            yield return new GenerationUpdate("tok", 1, null);
        }
        throw new InvalidOperationException("the engine broke (on purpose)");
    }
}
