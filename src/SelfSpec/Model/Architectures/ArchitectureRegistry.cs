using System.Collections.Concurrent;

namespace SelfSpec.Model.Architectures;

/// <summary>
/// The architectures this engine runs, by general.architecture name. The built-in ones are listed here; tests
/// (and later plug-ins) add theirs through <see cref="Register"/>, without touching the forward pass.
/// </summary>
internal static class ArchitectureRegistry
{
    private static readonly ConcurrentDictionary<string, IArchitecture> s_byName = new(StringComparer.Ordinal);

    static ArchitectureRegistry()
    {
        foreach (var a in new IArchitecture[] { new Llama(), new Qwen2(), new Qwen3(), new SmolLm3(), new Gemma2(), new Gemma3(), new Phi3() })
            s_byName[a.Name] = a;
    }

    /// <summary>Adds (or replaces) the architecture of <see cref="IArchitecture.Name"/>.</summary>
    public static void Register(IArchitecture architecture) => s_byName[architecture.Name] = architecture;

    /// <summary>Registered names, sorted (for error messages and <c>inspect</c>).</summary>
    public static IReadOnlyList<string> Names => [.. s_byName.Keys.Order(StringComparer.Ordinal)];

    public static IArchitecture Find(string name) =>
        s_byName.TryGetValue(name, out var a) ? a
            : throw new UnsupportedModelException($"unsupported architecture '{name}' (supported: {string.Join(", ", Names)})");
}
