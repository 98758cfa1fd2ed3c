using System.Globalization;
using SelfSpec;
using SelfSpec.ServeBench;

// Loopback benchmarks of `selfspec serve` (architecture.md, serving): `load` (the bounded load run) and `figures`
// (time to first token and streamed decode speed against `selfspec generate`). Exit codes: 0 every target met,
// 1 a target missed, 2 bad usage.
try
{
    var a = BenchArgs.Parse(args);
    return a.Mode switch
    {
        "load" => await LoadBench.RunAsync(a),
        "decode" => await DecodeBench.RunAsync(a),
        "engine" => await EngineBench.RunAsync(a),
        _ => await FiguresBench.RunAsync(a),
    };
}
catch (InvalidOperationException e)
{
    Console.Error.WriteLine($"failed: {e.Message}");
    return 1;
}
catch (ArgumentException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    Console.Error.WriteLine(BenchArgs.Usage);
    return 2;
}

internal sealed record BenchArgs
{
    public const string Usage = """
        usage: SelfSpec.ServeBench load|figures|decode|engine [--model PATH] [--threads N] [--method M]
          load:    [--clients 8] [--requests 5] [--max-tokens 32] [--max-queue 4] [--parallel 4] [--rounds 2]
          figures: [--reps 3] [--prompt-tokens 200] [--decode-tokens 128] [--methods ar,hybrid]
          decode:  [--reps 3] [--decode-tokens 128] [--methods ar,hybrid] [--compare BUILD_FOLDER]
          engine:  [--reps 3] [--decode-tokens 128] [--methods ar,hybrid]
        """;

    public required string Mode { get; init; }
    public string Model { get; init; } = "";
    public int Threads { get; init; } = 2;
    public string Method { get; init; } = "hybrid";
    public int Clients { get; init; } = 8;
    public int Requests { get; init; } = 5;
    public int MaxTokens { get; init; } = 32;
    public int MaxQueue { get; init; } = 4;
    public int Parallel { get; init; } = 4;
    public int Rounds { get; init; } = 2;
    public int Reps { get; init; } = 3;
    public int PromptTokens { get; init; } = 200;
    public int DecodeTokens { get; init; } = 128;
    public string[] Methods { get; init; } = ["ar", "hybrid"];
    /// <summary>decode: another build's output folder whose servers run beside this build's (A/B).</summary>
    public string? Compare { get; init; }

    public static BenchArgs Parse(string[] args)
    {
        if (args.Length == 0 || args[0] is not ("load" or "figures" or "decode" or "engine")) throw new ArgumentException("the first argument must be load, figures, decode or engine");
        var a = new BenchArgs { Mode = args[0], Model = ModelLocator.FindBundled() ?? "" };
        for (int i = 1; i < args.Length; i++)
        {
            string name = args[i];
            if (i + 1 >= args.Length) throw new ArgumentException($"{name} needs a value");
            string v = args[++i];
            int Int() => int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n > 0 ? n : throw new ArgumentException($"{name} must be a positive integer");
            a = name switch
            {
                "--model" => a with { Model = v },
                "--threads" => a with { Threads = Int() },
                "--method" => a with { Method = v },
                "--clients" => a with { Clients = Int() },
                "--requests" => a with { Requests = Int() },
                "--max-tokens" => a with { MaxTokens = Int() },
                "--max-queue" => a with { MaxQueue = Int() },
                "--parallel" => a with { Parallel = Int() },
                "--rounds" => a with { Rounds = Int() },
                "--reps" => a with { Reps = Int() },
                "--prompt-tokens" => a with { PromptTokens = Int() },
                "--decode-tokens" => a with { DecodeTokens = Int() },
                "--methods" => a with { Methods = v.Split(',') },
                "--compare" => a with { Compare = Directory.Exists(v) ? v : throw new ArgumentException($"--compare: no folder {v}") },
                _ => throw new ArgumentException($"unknown option {name}"),
            };
        }
        if (a.Model.Length == 0 || !File.Exists(a.Model)) throw new ArgumentException($"model file '{a.Model}' not found (--model)");
        return a;
    }
}
