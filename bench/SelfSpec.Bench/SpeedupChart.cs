using ScottPlot;

namespace SelfSpec.Bench;

/// <summary>speedup.png: decode speed over <c>ar</c> per task (and overall), one bar per other method, a dashed line at 1 (ar).</summary>
internal static class SpeedupChart
{
    public static void Write(IReadOnlyList<MethodSummary> summaries, IReadOnlyList<string> methods, string path)
    {
        var tasks = summaries.Select(s => s.Task).Distinct().ToList();
        var shown = methods.Where(m => m != "ar" && summaries.Any(s => s.Method == m && s.SpeedupOverAr != null)).ToList();
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        var bars = new List<Bar>();
        double groupWidth = shown.Count + 1;
        for (int t = 0; t < tasks.Count; t++)
        {
            for (int m = 0; m < shown.Count; m++)
            {
                var s = summaries.FirstOrDefault(x => x.Task == tasks[t] && x.Method == shown[m]);
                if (s?.SpeedupOverAr is not double v) continue;
                bars.Add(new Bar
                {
                    Position = t * groupWidth + m,
                    Value = v,
                    FillColor = palette.GetColor(m),
                    Label = v.ToString("F2", System.Globalization.CultureInfo.InvariantCulture),
                });
            }
        }
        if (bars.Count > 0) plot.Add.Bars(bars);
        for (int m = 0; m < shown.Count; m++)
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = shown[m], FillColor = palette.GetColor(m) });
        plot.ShowLegend(Alignment.UpperRight);
        var line = plot.Add.HorizontalLine(1.0);
        line.LinePattern = LinePattern.Dashed;
        line.Color = Colors.Gray;
        double[] ticks = [.. tasks.Select((_, t) => t * groupWidth + (shown.Count - 1) / 2.0)];
        string[] labels = [.. tasks.Select(t => t.Replace(' ', '\n'))];
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks, labels);
        plot.Axes.Margins(bottom: 0);
        plot.Title("Decode speedup over autoregressive (ar), per task");
        plot.YLabel("decode tokens/s relative to ar");
        plot.SavePng(path, 1400, 700);
    }
}
