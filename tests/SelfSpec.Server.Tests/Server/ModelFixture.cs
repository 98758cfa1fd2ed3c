using SelfSpec.Decoding;

namespace SelfSpec.Server.Tests.Server;

/// <summary>The bundled model, loaded once for all server tests, and a server over it with the default options.</summary>
public sealed class ModelFixture : IDisposable
{
    public ModelFixture()
    {
        string path = ModelLocator.FindBundled() ?? throw new InvalidOperationException($"the bundled model {ModelLocator.BundledFileName} was not found in ../shared/models");
        Model = LanguageModel.Load(path, threads: 2);
        Server = new ServerFactory(new ServerOptions { Alias = "smol" }, Model);
    }

    public LanguageModel Model { get; }
    public ServerFactory Server { get; }
    public string ModelId => Path.GetFileNameWithoutExtension(Model.Path);

    /// <summary>What the library itself generates, greedy and autoregressive: the reference every route must match.</summary>
    public GenerationResult Greedy(int[] prompt, int maxTokens, IReadOnlyList<string>? stop = null) =>
        Model.Generate(prompt, new GenerationOptions { MaxTokens = maxTokens, Method = DecodingMethod.Autoregressive, StopSequences = stop ?? [] });

    public void Dispose()
    {
        Server.Dispose();
        Model.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class ServerCollection : ICollectionFixture<ModelFixture>
{
    public const string Name = "Server";
}
