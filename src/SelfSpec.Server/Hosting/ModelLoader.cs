using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace SelfSpec.Server.Hosting;

/// <summary>
/// Loads the model once the server is listening, so /health can answer 503 meanwhile. A model that cannot be loaded
/// stops the server: serving nothing but 503s forever would hide the mistake.
/// </summary>
internal sealed partial class ModelLoader(ModelHost host, IHostApplicationLifetime lifetime, ILogger<ModelLoader> log) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (host.IsReady) return Task.CompletedTask;
        return Task.Run(() =>
        {
            try
            {
                host.Load();
                Loaded(log, host.ModelId, host.ContextLength);
            }
            catch (Exception e)
            {
                Failed(log, e.Message);
                lifetime.StopApplication();
            }
        }, stoppingToken);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "model {Id} loaded; context {Context} tokens")]
    private static partial void Loaded(ILogger log, string id, int context);

    [LoggerMessage(Level = LogLevel.Critical, Message = "the model could not be loaded: {Reason}")]
    private static partial void Failed(ILogger log, string reason);
}
