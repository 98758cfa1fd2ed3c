using System.Diagnostics;
using System.Globalization;
using SelfSpec.Model;

namespace SelfSpec.Kernels.Bench;

/// <summary>
/// The real-shape speed benchmark (architecture.md 7), SelfSpec's side; bench/shapes.sh interleaves it with native
/// llama-bench on the same files, one fresh process per measurement so neither engine runs inside the other's.
///   shapes write DIR          writes the Q4_K_M-recipe models of <see cref="ShapeModels"/> into DIR
///   shapes run FILE [--threads N] [--reps R]
///                             measures what llama-bench -p 64 -n 64 measures (pp64: one 64-token batch from an empty
///                             cache, logits of its last row; tg64: 64 single-token steps from an empty cache, logits
///                             each step, greedy), the forward curve (1, 2, 4, 8 rows with logits for every row,
///                             after a 64-token prompt), and resident memory against file + KV cache.
///   shapes bandwidth [--threads N]
///                             the streaming-read ceiling and each packed K-quant matrix's GB/s at one row (BandwidthBench).
/// </summary>
internal static class ShapeBench
{
    public static int Run(string[] args)
    {
        if (args.Length >= 2 && args[0] == "write")
        {
            Directory.CreateDirectory(args[1]);
            string tokenizer = ModelLocator.Resolve(null);
            foreach (var s in ShapeModels.All)
            {
                string path = Path.Combine(args[1], s.Name + ".gguf");
                if (File.Exists(path)) { Console.WriteLine($"exists {path}"); continue; }
                var sw = Stopwatch.StartNew();
                ShapeModels.Write(s, tokenizer, path);
                Console.WriteLine($"wrote {path} ({new FileInfo(path).Length / 1e6:F1} MB, {sw.Elapsed.TotalSeconds:F0} s)");
            }
            return 0;
        }
        if (args.Length >= 2 && args[0] == "run")
        {
            int threads = 2, reps = 3;
            for (int i = 2; i + 1 < args.Length; i += 2)
            {
                if (args[i] == "--threads") threads = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
                else if (args[i] == "--reps") reps = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
                else throw new InvalidRequestException($"unknown argument '{args[i]}'");
            }
            Measure(args[1], threads, reps);
            return 0;
        }
        if (args.Length >= 1 && args[0] == "bandwidth")
        {
            BandwidthBench.Run(args.Length >= 3 && args[1] == "--threads" ? int.Parse(args[2], CultureInfo.InvariantCulture) : 2);
            return 0;
        }
        if (args.Length >= 1 && args[0] == "kernels")
        {
            KernelRatios();
            return 0;
        }
        throw new InvalidRequestException("usage: SelfSpec.Bench shapes write DIR | shapes run FILE [--threads N] [--reps R] | shapes kernels | shapes bandwidth [--threads N]");
    }

    private static void Measure(string path, int threads, int reps)
    {
        var load = Stopwatch.StartNew();
        using var lm = LanguageModel.Load(path, new ModelLoadOptions { Threads = threads, Calibration = CalibrationChoice.None });
        double loadSeconds = load.Elapsed.TotalSeconds;
        Console.WriteLine($"selfspec {Path.GetFileName(path)} after load: rss_mb={Resident()["VmRSS"] / 1e6:F1} packed_mb={lm.Transformer.Weights.PackedBytes / 1e6:F1} load_s={loadSeconds:F1}");
        if (reps == 0) return;
        var t = lm.Transformer;
        var c = lm.Config;
        const int n = 64;
        var cache = new KvCache(c, 2 * n + 8);
        var hidden = new float[t.MaxBatch * c.EmbeddingDim];
        var last = new float[c.EmbeddingDim];
        var logits = new float[8 * c.VocabSize];
        var rng = new Random(7);
        int[] prompt = Enumerable.Range(0, n).Select(_ => rng.Next(1000, 30000)).ToArray();
        int[] positions = Enumerable.Range(0, 2 * n + 8).ToArray();
        string name = Path.GetFileName(path);

        double Prefill()
        {
            cache.Truncate(0);
            long t0 = Stopwatch.GetTimestamp();
            t.Embed(prompt, hidden);
            t.Forward(positions.AsSpan(0, n), hidden.AsSpan(0, n * c.EmbeddingDim), 0, c.LayerCount, cache);
            hidden.AsSpan((n - 1) * c.EmbeddingDim, c.EmbeddingDim).CopyTo(last);
            t.FinalLogits(last, 1, logits);
            double s = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            cache.Commit(n);
            return n / s;
        }

        double Generate(out bool finite)
        {
            cache.Truncate(0);
            int token = prompt[0];
            finite = true;
            long t0 = Stopwatch.GetTimestamp();
            for (int i = 0; i < n; i++)
            {
                t.Embed([token], hidden);
                t.Forward(positions.AsSpan(i, 1), hidden.AsSpan(0, c.EmbeddingDim), 0, c.LayerCount, cache);
                t.FinalLogits(hidden, 1, logits);
                cache.Commit(i + 1);
                token = ArgMax(logits.AsSpan(0, c.VocabSize), ref finite);
            }
            return n / Stopwatch.GetElapsedTime(t0).TotalSeconds;
        }

        // Warm-up (JIT tiering, first touches), then the timed repetitions.
        Prefill();
        Generate(out _);
        var pp = new double[reps];
        var tg = new double[reps];
        bool allFinite = true;
        for (int r = 0; r < reps; r++)
        {
            pp[r] = Prefill();
            tg[r] = Generate(out bool finite);
            allFinite &= finite;
        }
        Console.WriteLine($"selfspec {name} threads={threads} load_s={loadSeconds:F1} pp64_ts={Mean(pp):F2} (+-{Sd(pp):F2}) tg64_ts={Mean(tg):F2} (+-{Sd(tg):F2}) logits_finite={allFinite}");

        // Forward curve: n rows after the 64-token prompt, logits for every row; medians.
        Prefill();
        var curve = new Dictionary<int, double>();
        foreach (int rows in new[] { 1, 2, 4, 8 })
        {
            var times = new double[Math.Max(5, 3 * reps)];
            for (int r = -2; r < times.Length; r++)
            {
                long t0 = Stopwatch.GetTimestamp();
                t.Embed(prompt.AsSpan(0, rows), hidden);
                t.Forward(positions.AsSpan(n, rows), hidden.AsSpan(0, rows * c.EmbeddingDim), 0, c.LayerCount, cache);
                t.FinalLogits(hidden, rows, logits);
                if (r >= 0) times[r] = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            }
            Array.Sort(times);
            curve[rows] = times[times.Length / 2];
        }
        Console.WriteLine($"selfspec {name} curve_ms " + string.Join(" ", curve.Select(kv => $"{kv.Key}={kv.Value * 1e3:F2}"))
            + " relative " + string.Join(" ", curve.Select(kv => $"{kv.Key}={kv.Value / curve[1]:F2}")));

        var status = Resident();
        long file = lm.FileSize, kv = cache.ByteSize, packed = t.Weights.PackedBytes;
        Console.WriteLine($"selfspec {name} memory_mb rss={status["VmRSS"] / 1e6:F1} peak={status["VmHWM"] / 1e6:F1} file={file / 1e6:F1} kv={kv / 1e6:F1} " +
            $"packed={packed / 1e6:F1} budget(file+kv+150)={(file + kv) / 1e6 + 150:F1} anon={status["RssAnon"] / 1e6:F1} file_mapped={status["RssFile"] / 1e6:F1} " +
            $"managed_heap={GC.GetGCMemoryInfo().HeapSizeBytes / 1e6:F1} model_file_resident={MappedResident(path) / 1e6:F1}");
    }

    /// <summary>
    /// One thread, one matrix of each packed type at a real shape: the file-layout kernels (MatMul.Rows) against the
    /// packed ones on the same weights and inputs, interleaved, the fastest of 40 each (another process's load only ever adds time).
    /// </summary>
    private static unsafe void KernelRatios()
    {
        foreach (var (type, inDim, outDim) in new[] { (Quantization.GgmlType.Q4_K, 2048, 8192), (Quantization.GgmlType.Q6_K, 8192, 2048),
            (Quantization.GgmlType.Q5_0, 896, 4864), (Quantization.GgmlType.Q8_0, 896, 4864) })
        {
            var rng = new Random(1);
            int wb = (int)Quantization.GgmlTypeInfo.RowBytes(type, inDim);
            var w = new byte[(long)wb * outDim];
            var row = new byte[wb];
            var values = new float[inDim];
            for (int r = 0; r < 64; r++)
            {
                for (int i = 0; i < inDim; i++) values[i] = (float)(rng.NextDouble() * 2 - 1);
                Quantization.Quantize.Row(type, values, row);
                for (int o = r; o < outDim; o += 64) row.CopyTo(w.AsSpan(o * wb));
            }
            var packed = Quantization.TensorTypes.Get(type).Pack(w, inDim, outDim)!;
            foreach (int batch in new[] { 1, 4, 8 })
            {
                var x = new float[batch * inDim];
                for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
                var fileAct = new byte[batch * Kernels.MatMul.ActivationRowBytes(type, inDim)];
                var packAct = new byte[batch * packed.ActivationRowBytes];
                var y = new float[batch * outDim];
                var tf = new double[40];
                var tp = new double[40];
                for (int r = -3; r < 40; r++)
                {
                    long t0 = Stopwatch.GetTimestamp();
                    Kernels.MatMul.QuantizeActivations(type, x, batch, inDim, fileAct);
                    Kernels.MatMul.Rows(type, w, inDim, fileAct, batch, y, outDim, 0, outDim);
                    double a = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
                    t0 = Stopwatch.GetTimestamp();
                    packed.QuantizeActivations(x, batch, packAct);
                    packed.Rows(packAct, batch, y, 0, outDim);
                    double b = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
                    if (r >= 0) { tf[r] = a; tp[r] = b; }
                }
                double mf = tf.Min(), mp = tp.Min();
                Console.WriteLine($"kernel {type} {inDim}x{outDim} batch {batch}: file layout {mf:F2} ms, packed {mp:F2} ms, speedup {mf / mp:F2}x");
            }
        }
    }

    /// <summary>VmRSS (resident now), VmHWM (peak resident), RssAnon and RssFile (resident file mappings) of this process, in bytes.</summary>
    private static Dictionary<string, long> Resident() =>
        File.ReadAllLines("/proc/self/status").Where(l => l.StartsWith("VmRSS", StringComparison.Ordinal) || l.StartsWith("VmHWM", StringComparison.Ordinal)
                || l.StartsWith("RssAnon", StringComparison.Ordinal) || l.StartsWith("RssFile", StringComparison.Ordinal))
            .ToDictionary(l => l.Split(':')[0], l => long.Parse(l.Split(':')[1].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024);

    /// <summary>Resident bytes of this process's mappings of <paramref name="path"/> (/proc/self/smaps).</summary>
    private static long MappedResident(string path)
    {
        string full = Path.GetFullPath(path);
        long total = 0;
        bool inside = false;
        foreach (string line in File.ReadLines("/proc/self/smaps"))
        {
            if (line.Length > 0 && char.IsAsciiHexDigit(line[0]) && line.Contains('-')) inside = line.EndsWith(full, StringComparison.Ordinal);
            else if (inside && line.StartsWith("Rss:", StringComparison.Ordinal))
                total += long.Parse(line[4..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
        }
        return total;
    }

    private static int ArgMax(ReadOnlySpan<float> x, ref bool finite)
    {
        int best = 0;
        for (int i = 0; i < x.Length; i++)
        {
            if (!float.IsFinite(x[i])) finite = false;
            if (x[i] > x[best]) best = i;
        }
        return best;
    }

    private static double Mean(double[] x) => x.Average();

    private static double Sd(double[] x)
    {
        double m = x.Average();
        return x.Length > 1 ? Math.Sqrt(x.Sum(v => (v - m) * (v - m)) / (x.Length - 1)) : 0;
    }
}
