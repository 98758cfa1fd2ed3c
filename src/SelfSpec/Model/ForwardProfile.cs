using System.Diagnostics;

namespace SelfSpec.Model;

/// <summary>The parts of a forward pass that <see cref="ForwardProfile"/> times separately.</summary>
internal enum ForwardStage
{
    Norm,
    QuantizeActivations,
    MatMul,
    RopeAndCache,
    Attention,
    Residual,
    Activation,
    Head,
}

/// <summary>
/// Where a forward pass spends its time, per stage, for the benchmark's profile report. Off unless
/// SELFSPEC_PROFILE=1 is set when the process starts: the flag is a static readonly the JIT folds away, so
/// ordinary runs pay nothing. Timed on the dispatching thread: a parallel stage's time includes waiting for the
/// slowest worker.
/// </summary>
internal static class ForwardProfile
{
    public static readonly bool Enabled = Environment.GetEnvironmentVariable("SELFSPEC_PROFILE") == "1";
    private static readonly long[] s_ticks = new long[Enum.GetValues<ForwardStage>().Length];
    private static readonly long[] s_calls = new long[s_ticks.Length];

    /// <summary>A timestamp when profiling, else 0.</summary>
    public static long Start() => Enabled ? Stopwatch.GetTimestamp() : 0;

    /// <summary>Adds the time since <paramref name="start"/> to <paramref name="stage"/> and returns the new start.</summary>
    public static long Lap(ForwardStage stage, long start)
    {
        if (!Enabled) return 0;
        long now = Stopwatch.GetTimestamp();
        s_ticks[(int)stage] += now - start;
        s_calls[(int)stage]++;
        return now;
    }

    public static void Reset()
    {
        Array.Clear(s_ticks);
        Array.Clear(s_calls);
    }

    /// <summary>(stage, total seconds, calls) of everything timed since the last reset.</summary>
    public static IReadOnlyList<(ForwardStage Stage, double Seconds, long Calls)> Snapshot() =>
        [.. Enum.GetValues<ForwardStage>().Select(s => (s, s_ticks[(int)s] / (double)Stopwatch.Frequency, s_calls[(int)s]))];
}

/// <summary>
/// The one timing seam of the forward pass: the composition calls <see cref="Lap"/> after each block, and the
/// blocks themselves hold no timing. Costs nothing when profiling is off.
/// </summary>
internal struct StageClock
{
    private long _start;

    public static StageClock Start() => new() { _start = ForwardProfile.Start() };

    /// <summary>Charges the time since the last lap to <paramref name="stage"/>.</summary>
    public void Lap(ForwardStage stage) => _start = ForwardProfile.Lap(stage, _start);
}
