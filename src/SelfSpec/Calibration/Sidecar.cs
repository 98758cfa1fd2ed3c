using System.Globalization;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using SelfSpec.Decoding;
using SelfSpec.Gguf;
using SelfSpec.Quantization;

namespace SelfSpec.Calibration;

/// <summary>A calibration sidecar that does not belong to the model, is corrupt, or has an unknown version.</summary>
public sealed class SidecarException(string message) : SelfSpecException(message);

/// <summary>What a calibration sidecar holds (architecture.md 6).</summary>
internal sealed record SidecarContents
{
    public required string ModelFingerprint { get; init; }
    public required long ModelSize { get; init; }
    public required int Layers { get; init; }
    public required int Embedding { get; init; }
    public required int Vocab { get; init; }
    /// <summary>The measured speculation settings (alpha, tau, d_max, w_max, candidate exit layers).</summary>
    public required SpeculationOptions Speculation { get; init; }
    public required IReadOnlyList<Translator> Translators { get; init; }
    /// <summary>The draft vocabulary, most frequent first.</summary>
    public required int[] DraftTokens { get; init; }
    /// <summary>Per chosen exit layer: held-out acceptance of fired drafts and the fire rate (price-bound priors).</summary>
    public required IReadOnlyDictionary<int, (double Accept, double Fire)> Rates { get; init; }
    /// <summary>The draft head's measured cost in one-row layer calls.</summary>
    public required double HeadCostInLayers { get; init; }
    /// <summary>
    /// The calibration run's generations for the datastore draft source, separated by <see cref="TokenStore.Separator"/>
    /// (empty: none; sidecars made before it hold none).
    /// </summary>
    public int[] Datastore { get; init; } = [];
    /// <summary>Free-form summary of the calibration run (JSON), for people.</summary>
    public string Summary { get; init; } = "";
}

/// <summary>
/// The sidecar file <c>MODEL.gguf.selfspec</c>: a GGUF file (version 3) with
/// <list type="bullet">
/// <item>metadata <c>general.architecture = "selfspec-calibration"</c>, <c>selfspec.format_version</c> (u32, now 1),
/// <c>selfspec.model.fingerprint</c> (SHA-256 hex of the model file's size and sampled contents, see
/// <see cref="Fingerprint"/>), <c>selfspec.model.size</c>, <c>.layers</c>, <c>.embedding</c>, <c>.vocab</c>;
/// the parameters <c>selfspec.spec.alpha</c>, <c>.tau</c> (f32), <c>.d_max</c>, <c>.w_max</c> (i32),
/// <c>.exit_layers</c> (i32 array); the bound's priors <c>selfspec.prior.layers</c> (i32 array),
/// <c>.accept</c>, <c>.fire</c> (f32 arrays), <c>selfspec.prior.head_cost_layers</c> (f32);
/// <c>selfspec.summary</c> (JSON text) and <c>selfspec.checksum</c>: SHA-256 hex of every other selfspec value
/// (canonical text) and every tensor's bytes;</item>
/// <item>tensors <c>exit.L.translator.weight</c> F32 [embd, embd] (row i = output i) and
/// <c>exit.L.translator.bias</c> F32 [embd] per calibrated layer L; <c>draft_vocab.ids</c> I32 [N]; optionally
/// <c>datastore.tokens</c> I32 [N]: the calibration's generations, separated by -1 (a sidecar without it still loads;
/// the checksum covers it like every tensor).</item>
/// </list>
/// </summary>
internal static class Sidecar
{
    public const uint FormatVersion = 1;
    public const string Extension = ".selfspec";
    private const string Architecture = "selfspec-calibration";
    private const string DatastoreTensor = "datastore.tokens";

    public static string PathFor(string modelPath) => modelPath + Extension;

    public static void Write(string path, SidecarContents c)
    {
        var values = new List<(string Key, object Value)>
        {
            ("selfspec.format_version", FormatVersion),
            ("selfspec.model.fingerprint", c.ModelFingerprint),
            ("selfspec.model.size", c.ModelSize),
            ("selfspec.model.layers", c.Layers),
            ("selfspec.model.embedding", c.Embedding),
            ("selfspec.model.vocab", c.Vocab),
            ("selfspec.spec.alpha", c.Speculation.Alpha),
            ("selfspec.spec.tau", c.Speculation.Tau),
            ("selfspec.spec.d_max", c.Speculation.MaxDepth),
            ("selfspec.spec.w_max", c.Speculation.ResolveMaxExitDrafts()),
            ("selfspec.spec.exit_layers", c.Speculation.ExitLayers.ToArray()),
            ("selfspec.prior.layers", c.Rates.Keys.Order().ToArray()),
            ("selfspec.prior.accept", c.Rates.OrderBy(r => r.Key).Select(r => (float)r.Value.Accept).ToArray()),
            ("selfspec.prior.fire", c.Rates.OrderBy(r => r.Key).Select(r => (float)r.Value.Fire).ToArray()),
            ("selfspec.prior.head_cost_layers", (float)c.HeadCostInLayers),
            ("selfspec.summary", c.Summary),
        };
        var tensors = new List<(string Name, GgmlType Type, long[] Dims, byte[] Data)>();
        foreach (var t in c.Translators.OrderBy(t => t.Layer))
        {
            tensors.Add(($"exit.{t.Layer}.translator.weight", GgmlType.F32, [t.Dim, t.Dim], MemoryMarshal.AsBytes(t.A.AsSpan()).ToArray()));
            tensors.Add(($"exit.{t.Layer}.translator.bias", GgmlType.F32, [t.Dim], MemoryMarshal.AsBytes(t.B.AsSpan()).ToArray()));
        }
        tensors.Add(("draft_vocab.ids", GgmlType.I32, [c.DraftTokens.Length], MemoryMarshal.AsBytes(c.DraftTokens.AsSpan()).ToArray()));
        if (c.Datastore.Length > 0)
            tensors.Add((DatastoreTensor, GgmlType.I32, [c.Datastore.Length], MemoryMarshal.AsBytes(c.Datastore.AsSpan()).ToArray()));

        var w = new GgufWriter();
        w.Add("general.architecture", Architecture);
        foreach (var (key, value) in values) w.Add(key, value);
        w.Add("selfspec.checksum", Checksum(values, tensors.Select(t => t.Data)));
        foreach (var (name, type, dims, data) in tensors) w.AddTensor(name, type, dims, data);
        string temp = path + ".tmp";
        w.WriteTo(temp);
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>Reads and checks a sidecar against the model it is meant for; throws <see cref="SidecarException"/> with the reason.</summary>
    public static SidecarContents Read(string path, GgufFile model, Model.ModelConfig config)
    {
        GgufFile file;
        try
        {
            file = GgufFile.Open(path);
        }
        catch (GgufFormatException e)
        {
            throw new SidecarException($"calibration sidecar {path} is corrupt ({e.Message})");
        }
        using (file)
        {
            try
            {
                return Read(path, file, model, config);
            }
            catch (Exception e) when (e is SelfSpecException or InvalidCastException or ArgumentException or IndexOutOfRangeException)
            {
                if (e is SidecarException) throw;
                throw new SidecarException($"calibration sidecar {path} is corrupt ({e.Message})");
            }
        }
    }

    private static SidecarContents Read(string path, GgufFile f, GgufFile model, Model.ModelConfig config)
    {
        if (f.GetStringOrNull("general.architecture") != Architecture)
            throw new SidecarException($"{path} is not a SelfSpec calibration sidecar");
        long version = f.GetInteger("selfspec.format_version");
        if (version != FormatVersion)
            throw new SidecarException($"calibration sidecar {path} has format version {version}; this build reads version {FormatVersion} (run selfspec calibrate again)");
        var keys = f.MetadataKeys.Where(k => k.StartsWith("selfspec.", StringComparison.Ordinal) && k != "selfspec.checksum").ToList();
        var values = keys.Select(k => (k, f.Metadata[k])).ToList();
        var tensorBytes = f.Tensors.Select(t => f.TensorBytes(t).ToArray()).ToList();
        if (Checksum(values, tensorBytes) != f.GetString("selfspec.checksum"))
            throw new SidecarException($"calibration sidecar {path} is corrupt (checksum mismatch)");

        string fingerprint = Fingerprint(model.Path);
        if (f.GetString("selfspec.model.fingerprint") != fingerprint || f.GetInteger("selfspec.model.size") != model.FileSize)
            throw new SidecarException($"calibration sidecar {path} belongs to another model (fingerprint differs from {System.IO.Path.GetFileName(model.Path)}); run selfspec calibrate for this model");
        int layers = (int)f.GetInteger("selfspec.model.layers"), embd = (int)f.GetInteger("selfspec.model.embedding"), vocab = (int)f.GetInteger("selfspec.model.vocab");
        if (layers != config.LayerCount || embd != config.EmbeddingDim || vocab != config.VocabSize)
            throw new SidecarException($"calibration sidecar {path} was made for {layers} layers x {embd} / vocabulary {vocab}, not this model");

        var translators = new List<Translator>();
        int[]? draft = null;
        int[] datastore = [];
        foreach (var t in f.Tensors)
        {
            var bytes = f.TensorBytes(t);
            if (t.Name == DatastoreTensor)
            {
                if (t.Type != GgmlType.I32) throw new SidecarException($"calibration sidecar {path}: the datastore has type {t.Type}, not I32");
                datastore = MemoryMarshal.Cast<byte, int>(bytes).ToArray();
                if (datastore.Any(id => id != TokenStore.Separator && (uint)id >= (uint)vocab))
                    throw new SidecarException($"calibration sidecar {path}: the datastore holds a token outside the vocabulary");
                continue;
            }
            if (t.Name == "draft_vocab.ids" && t.Type == GgmlType.I32)
            {
                draft = MemoryMarshal.Cast<byte, int>(bytes).ToArray();
                continue;
            }
            string[] parts = t.Name.Split('.');
            if (parts.Length != 4 || parts[0] != "exit" || parts[2] != "translator" || parts[3] != "weight") continue;
            if (!int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int layer) || layer < 1 || layer >= layers)
                throw new SidecarException($"calibration sidecar {path}: bad translator tensor '{t.Name}'");
            if (t.Type != GgmlType.F32 || t.ElementCount != (long)embd * embd || !f.TryGetTensor($"exit.{layer}.translator.bias", out var bias)
                || bias.Type != GgmlType.F32 || bias.ElementCount != embd)
                throw new SidecarException($"calibration sidecar {path}: translator of layer {layer} has the wrong type or shape");
            var a = MemoryMarshal.Cast<byte, float>(bytes).ToArray();
            var b = MemoryMarshal.Cast<byte, float>(f.TensorBytes(bias)).ToArray();
            if (!a.All(float.IsFinite) || !b.All(float.IsFinite))
                throw new SidecarException($"calibration sidecar {path}: translator of layer {layer} holds non-finite values");
            translators.Add(new Translator(layer, embd, a, b));
        }
        if (draft == null || draft.Length == 0 || draft.Any(id => (uint)id >= (uint)vocab) || draft.Distinct().Count() != draft.Length)
            throw new SidecarException($"calibration sidecar {path}: the draft vocabulary is missing or invalid");

        int[] exitLayers = Ints(f, "selfspec.spec.exit_layers");
        var spec = SpeculationOptions.Default with
        {
            Alpha = f.GetFloatOrNull("selfspec.spec.alpha") ?? throw new SidecarException("alpha missing"),
            Tau = f.GetFloatOrNull("selfspec.spec.tau") ?? throw new SidecarException("tau missing"),
            MaxDepth = (int)f.GetInteger("selfspec.spec.d_max"),
            MaxExitDrafts = (int)f.GetInteger("selfspec.spec.w_max"), // exit drafts only (SpeculationOptions.MaxExitDrafts)
            ExitLayers = exitLayers,
        };
        try
        {
            spec.Validate();
        }
        catch (InvalidRequestException e)
        {
            throw new SidecarException($"calibration sidecar {path}: bad parameters ({e.Message})");
        }
        int[] priorLayers = Ints(f, "selfspec.prior.layers");
        float[] accept = Floats(f, "selfspec.prior.accept"), fire = Floats(f, "selfspec.prior.fire");
        if (accept.Length != priorLayers.Length || fire.Length != priorLayers.Length)
            throw new SidecarException($"calibration sidecar {path}: prior arrays differ in length");
        var rates = new Dictionary<int, (double, double)>();
        for (int i = 0; i < priorLayers.Length; i++) rates[priorLayers[i]] = (accept[i], fire[i]);
        return new SidecarContents
        {
            ModelFingerprint = fingerprint,
            ModelSize = model.FileSize,
            Layers = layers,
            Embedding = embd,
            Vocab = vocab,
            Speculation = spec,
            Translators = translators,
            DraftTokens = draft,
            Rates = rates,
            HeadCostInLayers = f.GetFloatOrNull("selfspec.prior.head_cost_layers") ?? 1,
            Datastore = datastore,
            Summary = f.GetStringOrNull("selfspec.summary") ?? "",
        };
    }

    private static int[] Ints(GgufFile f, string key) =>
        (f.GetArrayOrNull(key) ?? throw new SidecarException($"{key} missing")).Values.Cast<object>().Select(Convert.ToInt32).ToArray();

    private static float[] Floats(GgufFile f, string key) =>
        (f.GetArrayOrNull(key) ?? throw new SidecarException($"{key} missing")).Values.Cast<object>().Select(Convert.ToSingle).ToArray();

    /// <summary>SHA-256 over the canonical text of the values (in order) and the tensor bytes.</summary>
    private static string Checksum(IEnumerable<(string Key, object Value)> values, IEnumerable<byte[]> tensors)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var (key, value) in values) sha.AppendData(Encoding.UTF8.GetBytes($"{key}={Canonical(value)}\n"));
        foreach (var t in tensors) sha.AppendData(t);
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    private static string Canonical(object value) => value switch
    {
        GgufArray a => Canonical(a.Values),
        Array a => "[" + string.Join(",", a.Cast<object>().Select(Canonical)) + "]",
        float x => x.ToString("R", CultureInfo.InvariantCulture),
        double x => x.ToString("R", CultureInfo.InvariantCulture),
        IConvertible c when value is not string => Convert.ToInt64(c, CultureInfo.InvariantCulture).ToString(CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    /// <summary>
    /// The model's fingerprint: SHA-256 (hex) of its size (8 bytes, little-endian), its first MiB, 64 slices of 64 KiB
    /// spread evenly over the rest, and its last 64 KiB; the whole file when under 8 MiB. Reads about 5 MiB whatever the
    /// model's size, so loading stays fast, and any other model differs in header or weights.
    /// </summary>
    public static string Fingerprint(string modelPath)
    {
        using var stream = new FileStream(modelPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        long size = stream.Length;
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(BitConverter.GetBytes(size));
        var buffer = new byte[1 << 20];
        void Slice(long offset, int length)
        {
            stream.Position = offset;
            int read = 0;
            while (read < length)
            {
                int n = stream.Read(buffer, read, length - read);
                if (n == 0) break;
                read += n;
            }
            sha.AppendData(buffer, 0, read);
        }
        if (size < 8L << 20)
        {
            for (long o = 0; o < size; o += buffer.Length) Slice(o, (int)Math.Min(buffer.Length, size - o));
        }
        else
        {
            Slice(0, 1 << 20);
            const int slice = 1 << 16;
            for (int i = 0; i < 64; i++) Slice((1L << 20) + (size - (1L << 20) - slice) * i / 64, slice);
            Slice(size - slice, slice);
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }
}
