using System.Diagnostics;
using System.Runtime.Intrinsics;
using SelfSpec.Kernels;
using SelfSpec.Quantization;
using SelfSpec.Threading;

namespace SelfSpec.Kernels.Bench;

/// <summary>
/// `shapes bandwidth [--threads N]`: what bounds decoding one row (architecture.md 8). First the ceiling, a plain
/// streaming read of a 1 GB array split between the workers as the matrix products are; then each packed K-quant
/// matrix of the Llama-3.2-1B shape at one activation row, split the same way, in GB/s of the bytes it holds.
/// Each matrix is copied until the copies exceed 1 GB and the timed calls walk the copies, so every call reads
/// from memory, not from the last level cache, as a decode step does. Medians of interleaved repetitions.
/// </summary>
internal static unsafe class BandwidthBench
{
    private const long StreamBytes = 1L << 30;
    private static bool s_cpu;

    /// <summary>Seconds of one call: this thread's CPU time with one thread (another process's turns on the core do not count), else wall time.</summary>
    private static double Time(WorkerPool pool, IParallelWork work)
    {
        if (s_cpu)
        {
            double c0 = ThreadCpu();
            pool.Run(work);
            return ThreadCpu() - c0;
        }
        long t0 = Stopwatch.GetTimestamp();
        pool.Run(work);
        return Stopwatch.GetElapsedTime(t0).TotalSeconds;
    }

    public static void Run(int threads)
    {
        using var pool = new WorkerPool(threads);
        s_cpu = threads == 1;
        Console.WriteLine($"bandwidth threads={threads} loadavg={File.ReadAllText("/proc/loadavg").Trim()}");
        var stream = new AlignedRows(StreamBytes);
        new Span<byte>(stream.Data, int.MaxValue / 2).Fill(1);
        new Span<byte>(stream.Data + int.MaxValue / 2, (int)(StreamBytes - int.MaxValue / 2)).Fill(1);
        var read = new StreamJob(stream.Data, StreamBytes);
        var times = new double[9];
        var ptimes = new double[9];
        var prefetched = new StreamJob(stream.Data, StreamBytes) { Prefetch = true };
        for (int r = -1; r < times.Length; r++)
        {
            double a = Time(pool, read), b = Time(pool, prefetched);
            if (r >= 0) { times[r] = a; ptimes[r] = b; }
        }
        Console.WriteLine($"stream read 1 GB ({(s_cpu ? "cpu" : "wall")} time): {StreamBytes / Median(times) / 1e9:F2} GB/s (best {StreamBytes / times.Min() / 1e9:F2}); " +
            $"with prefetch 2 KB ahead {StreamBytes / Median(ptimes) / 1e9:F2} GB/s (best {StreamBytes / ptimes.Min() / 1e9:F2})");

        foreach (var (name, type, inDim, outDim) in new[]
        {
            ("attn_q/o Q4_K", GgmlType.Q4_K, 2048, 2048), ("attn_k Q4_K", GgmlType.Q4_K, 2048, 512),
            ("ffn_gate/up Q4_K", GgmlType.Q4_K, 2048, 8192), ("ffn_down Q4_K", GgmlType.Q4_K, 8192, 2048),
            ("attn_v Q6_K", GgmlType.Q6_K, 2048, 512), ("ffn_down Q6_K", GgmlType.Q6_K, 8192, 2048),
            ("head Q6_K", GgmlType.Q6_K, 2048, 128256),
        })
            Matrix(pool, name, type, inDim, outDim);
    }

    private static void Matrix(WorkerPool pool, string name, GgmlType type, int inDim, int outDim)
    {
        var rng = new Random(1);
        long wb = GgmlTypeInfo.RowBytes(type, inDim);
        // 64 distinct random rows, repeated: the values do not change the work, only the bytes read do.
        var w = new byte[wb * outDim];
        var row = new byte[wb];
        var values = new float[inDim];
        for (int r = 0; r < 64; r++)
        {
            for (int i = 0; i < inDim; i++) values[i] = (float)(rng.NextDouble() * 2 - 1);
            Quantize.Row(type, values, row);
            for (int o = r; o < outDim; o += 64) row.CopyTo(w.AsSpan((int)(o * wb)));
        }
        var first = TensorTypes.Get(type).Pack(w, inDim, outDim) ?? throw new InvalidOperationException($"{type} has no packed layout here");
        int copies = (int)Math.Max(2, (StreamBytes + first.ByteSize - 1) / first.ByteSize);
        var ms = new PackedMatrix[copies];
        ms[0] = first;
        for (int i = 1; i < copies; i++) ms[i] = Copy(first);
        var x = new float[inDim];
        for (int i = 0; i < inDim; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        var act = new byte[first.ActivationRowBytes];
        var y = new float[outDim];
        first.QuantizeActivations(x, 1, act);
        var job = new RowsJob { Act = act, Output = y };
        int calls = Math.Max(3 * copies, 24);
        var times = new double[calls];
        for (int r = -copies; r < calls; r++)
        {
            job.M = ms[(r + copies) % copies];
            double t = Time(pool, job);
            if (r >= 0) times[r] = t;
        }
        var qt = new double[200];
        for (int r = 0; r < qt.Length; r++)
        {
            long t0 = Stopwatch.GetTimestamp();
            first.QuantizeActivations(x, 1, act);
            qt[r] = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        }
        double med = Median(times);
        long fileBytes = wb * outDim;
        Console.WriteLine($"{name,-18} {inDim}x{outDim}: {med * 1e6,8:F1} us/row, packed {first.ByteSize / 1e6,6:F1} MB -> {first.ByteSize / med / 1e9,5:F2} GB/s " +
            $"(file bytes {fileBytes / med / 1e9:F2} GB/s, best {first.ByteSize / times.Min() / 1e9:F2}), quantize 1 row {Median(qt) * 1e6:F1} us");
    }

    private static PackedMatrix Copy(PackedMatrix m)
    {
        PackedMatrix c = m switch
        {
            PackedQ4KMatrix q => PackedQ4KMatrix.Create(q.InDim, q.OutDim),
            PackedQ6KMatrix q => PackedQ6KMatrix.Create(q.InDim, q.OutDim),
            _ => throw new NotSupportedException(m.GetType().Name),
        };
        byte* src = m is PackedQ4KMatrix a ? a.Data : ((PackedQ6KMatrix)m).Data;
        byte* dst = c is PackedQ4KMatrix b ? b.Data : ((PackedQ6KMatrix)c).Data;
        Buffer.MemoryCopy(src, dst, m.ByteSize, m.ByteSize);
        return c;
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clock, long* ts);

    /// <summary>This thread's CPU seconds (CLOCK_THREAD_CPUTIME_ID): on a shared machine, time another process held the core is not counted.</summary>
    public static double ThreadCpu()
    {
        long* ts = stackalloc long[2];
        if (ClockGetTime(3, ts) != 0) throw new InvalidOperationException("clock_gettime failed");
        return ts[0] + ts[1] * 1e-9;
    }

    private static double Median(double[] t)
    {
        var s = (double[])t.Clone();
        Array.Sort(s);
        return s[s.Length / 2];
    }

    private sealed class RowsJob : IParallelWork
    {
        public PackedMatrix M = null!;
        public byte[] Act = [];
        public float[] Output = [];

        public void Execute(int worker, int workers)
        {
            var (start, end) = WorkerPool.Split(M.OutDim, worker, workers, 16);
            if (start < end) M.Rows(Act, 1, Output, start, end);
        }
    }

    private sealed class StreamJob(byte* data, long bytes) : IParallelWork
    {
        public long Sink;
        public bool Prefetch;

        public void Execute(int worker, int workers)
        {
            var (start, end) = WorkerPool.Split((int)(bytes / 4096), worker, workers);
            var s0 = Vector512<long>.Zero;
            var s1 = s0;
            var s2 = s0;
            var s3 = s0;
            for (byte* p = data + (long)start * 4096, e = data + (long)end * 4096; p < e; p += 256)
            {
                if (Prefetch)
                {
                    System.Runtime.Intrinsics.X86.Sse.Prefetch0(p + 2048);
                    System.Runtime.Intrinsics.X86.Sse.Prefetch0(p + 2048 + 64);
                    System.Runtime.Intrinsics.X86.Sse.Prefetch0(p + 2048 + 128);
                    System.Runtime.Intrinsics.X86.Sse.Prefetch0(p + 2048 + 192);
                }
                s0 += Vector512.Load((long*)p);
                s1 += Vector512.Load((long*)(p + 64));
                s2 += Vector512.Load((long*)(p + 128));
                s3 += Vector512.Load((long*)(p + 192));
            }
            Interlocked.Add(ref Sink, Vector512.Sum(s0 + s1 + s2 + s3));
        }
    }
}
