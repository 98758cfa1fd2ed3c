using System.Diagnostics;
using System.Numerics.Tensors;
using System.Text.Json;
using LLama;
using LLama.Batched;
using LLama.Common;
using LLama.Native;

namespace SelfSpec.Bench;

/// <summary>What the batched peer measured for c sequences: the same figures as <see cref="ConcurrentLoad"/>'s.</summary>
internal sealed record BatchedPeerResult(int Clients, double Window, double EndToEnd, int[][] Outputs, string? Error, double PerCpuSecond = 0);

/// <summary>
/// llama.cpp serving c sequences at once through LLamaSharp's <c>BatchedExecutor</c> (one <c>llama_decode</c> a step over
/// every sequence's next token, each sequence in its own slot of llama.cpp's KV cache), greedy, on the same file, prompt
/// token ids, thread count and length as SelfSpec's concurrent clients, end of generation ignored.
///
/// It runs in a child process (this harness started with <see cref="ChildVerb"/>), never inside the process that times
/// SelfSpec: llama.cpp's worker threads keep polling after a decode and slowed the engine timed next when the peer
/// shared its process (issue 18). The parent waits, idle, while the child runs, and reads one JSON line from it.
/// </summary>
internal static class BatchedPeer
{
    public const string ChildVerb = "peer-batched";
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(10);

    /// <summary>Parent side: runs one measurement of <paramref name="prompts"/>.Count sequences in a child process.</summary>
    public static BatchedPeerResult Measure(string modelPath, int threads, int maxTokens, IReadOnlyList<int[]> prompts)
    {
        string tokens = Path.Combine(Path.GetTempPath(), $"selfspec-peer-{Environment.ProcessId}-{Guid.NewGuid():N}.json");
        try
        {
            File.WriteAllText(tokens, JsonSerializer.Serialize(prompts));
            string self = Environment.ProcessPath ?? throw new InvalidOperationException("no process path to start the peer with");
            var psi = new ProcessStartInfo(self) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            // Run through `dotnet bench.dll` the same way when the harness itself was (dotnet run, dotnet bench.dll).
            if (Path.GetFileNameWithoutExtension(self).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
                psi.ArgumentList.Add(typeof(BatchedPeer).Assembly.Location);
            foreach (string a in (string[])[ChildVerb, modelPath, threads.ToString(), maxTokens.ToString(), tokens]) psi.ArgumentList.Add(a);
            using var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {self}");
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(Timeout))
            {
                p.Kill(entireProcessTree: true);
                throw new TimeoutException($"the batched peer did not finish within {Timeout.TotalMinutes} minutes");
            }
            if (p.ExitCode != 0) throw new InvalidOperationException($"the batched peer exited with {p.ExitCode}: {stderr.Result.Trim()}");
            string line = stdout.Result.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "";
            return JsonSerializer.Deserialize<BatchedPeerResult>(line) ?? throw new InvalidOperationException("the batched peer printed no result");
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception or JsonException or TimeoutException or IOException)
        {
            return new BatchedPeerResult(prompts.Count, 0, 0, [], e.Message);
        }
        finally
        {
            File.Delete(tokens);
        }
    }

    /// <summary>Child side: <c>peer-batched MODEL THREADS MAX_TOKENS TOKENS.json</c>; prints one JSON line.</summary>
    public static int RunChild(string[] args)
    {
        if (args.Length != 5) throw new InvalidRequestException($"{ChildVerb} expects MODEL THREADS MAX_TOKENS TOKENS.json");
        string model = args[1];
        int threads = int.Parse(args[2]), maxTokens = int.Parse(args[3]);
        var prompts = JsonSerializer.Deserialize<int[][]>(File.ReadAllText(args[4])) ?? throw new InvalidRequestException("no prompts");
        Console.WriteLine(JsonSerializer.Serialize(Run(model, threads, maxTokens, prompts)));
        return 0;
    }

    private static BatchedPeerResult Run(string model, int threads, int maxTokens, int[][] prompts)
    {
        NativeLogConfig.llama_log_set((_, _) => { });
        int clients = prompts.Length;
        // One KV cache holds every sequence: room for all prompts and outputs; a batch that takes every prompt at once.
        uint context = (uint)(prompts.Sum(p => p.Length + maxTokens + 8) + 256);
        uint batch = (uint)Math.Max(512, prompts.Sum(p => p.Length) + clients);
        var parameters = new ModelParams(model)
        {
            ContextSize = context, GpuLayerCount = 0, Threads = threads, BatchThreads = threads,
            BatchSize = batch, UBatchSize = 512, SeqMax = (uint)clients,
        };
        using var weights = LLamaWeights.LoadFromFile(parameters);
        using var executor = new BatchedExecutor(weights, parameters);
        var conversations = prompts.Select(_ => executor.Create()).ToArray();
        var outputs = prompts.Select(_ => new List<int>(maxTokens)).ToArray();
        var times = prompts.Select(_ => new List<double>(maxTokens)).ToArray();
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < clients; i++) conversations[i].Prompt(prompts[i].Select(t => (LLamaToken)t).ToArray().AsSpan(), false);
        while (true)
        {
            while (executor.BatchQueueCount > 0 || conversations.Any(c => c.RequiresInference))
                Check(executor.Infer().GetAwaiter().GetResult());
            bool any = false;
            for (int i = 0; i < clients; i++)
            {
                if (outputs[i].Count >= maxTokens) continue;
                int next = TensorPrimitives.IndexOfMax(conversations[i].Sample());
                outputs[i].Add(next);
                times[i].Add(clock.Elapsed.TotalSeconds);
                if (outputs[i].Count >= maxTokens) continue;
                conversations[i].Prompt((LLamaToken)next);
                any = true;
            }
            if (!any) break;
        }
        double wall = clock.Elapsed.TotalSeconds;
        double cpuSeconds = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds;
        foreach (var c in conversations) c.Dispose();
        double from = times.Max(t => t[0]), to = times.Min(t => t[^1]);
        int inWindow = times.Sum(t => t.Count(x => x > from && x <= to));
        return new BatchedPeerResult(clients, to > from ? inWindow / (to - from) : 0, times.Sum(t => t.Count) / wall,
            [.. outputs.Select(o => o.ToArray())], null, cpuSeconds > 0 ? times.Sum(t => t.Count) / cpuSeconds : 0);
    }

    private static void Check(DecodeResult r)
    {
        if (r != DecodeResult.Ok) throw new InvalidOperationException($"llama.cpp decode failed: {r}");
    }
}
