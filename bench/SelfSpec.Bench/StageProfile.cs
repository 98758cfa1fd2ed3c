using Spectre.Console;

namespace SelfSpec.Bench;

/// <summary>
/// `--profile`: where one forward pass spends its time, stage by stage (norms, activation quantization, matrix
/// products, RoPE and cache writes, attention, residual adds, SwiGLU, the output head), for batches of 1 and 8
/// positions with logits for every row, after 100 and after 600 positions of context. Needs SELFSPEC_PROFILE=1 in
/// the environment (read once at start-up).
/// </summary>
internal static class StageProfile
{
    public static void Run(LanguageModel lm, int threads, int[] seed, int reps)
    {
        if (!ForwardProbe.ProfilingEnabled)
            throw new InvalidRequestException("--profile needs SELFSPEC_PROFILE=1 set in the environment");
        foreach (int context in new[] { 100, 600 })
        {
            using var timer = new SelfSpecForwardTimer(lm, threads, ForwardCurve.Prefix(seed, context), 8);
            foreach (int n in new[] { 1, 2, 3, 4, 8 }) Print(timer, n, context, threads, reps);
        }
    }

    private static void Print(SelfSpecForwardTimer timer, int n, int context, int threads, int reps)
    {
        for (int i = 0; i < 50; i++) timer.Seconds(n);
        ForwardProbe.ResetStageTimes();
        double total = 0;
        for (int i = 0; i < reps; i++) total += timer.Seconds(n);
        var table = new Table().AddColumns("stage", "ms a pass", "share", "calls a pass");
        var stages = ForwardProbe.StageTimes();
        double timed = 0;
        foreach (var (stage, seconds, calls) in stages)
        {
            timed += seconds;
            table.AddRow(stage, $"{seconds / reps * 1e3:F3}", $"{seconds / total:P1}", $"{calls / (double)reps:F0}");
        }
        table.AddRow("(untimed: embed, loop, timer)", $"{(total - timed) / reps * 1e3:F3}", $"{(total - timed) / total:P1}", "");
        table.AddRow("total", $"{total / reps * 1e3:F3}", "100%", "");
        AnsiConsole.WriteLine($"forward pass over {n} position(s) after {context} of context, logits for every row, {threads} threads, mean of {reps}:");
        AnsiConsole.Write(table);
    }
}
